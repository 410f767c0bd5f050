/**
 * The stage's secrets, set once per stage with `npx sst secret set <Name> <value> --stage <stage>` and linked
 * to the functions and the ingest service, which read them under the configuration's own variable names
 * (packages/core/src/config). Optional ones default to empty, which {@link environment} leaves unset.
 */
export function secrets() {
  return {
    /** JUNJO_SESSION_SECRET: at least 32 random characters (`openssl rand -base64 48`). */
    sessionSecret: new sst.Secret('SessionSecret'),
    /** JUNJO_LIBSQL_URL: the libSQL server (e.g. Turso) holding users, sessions and API keys. */
    libsqlUrl: new sst.Secret('LibsqlUrl'),
    /** JUNJO_LIBSQL_AUTH_TOKEN: its token. */
    libsqlAuthToken: new sst.Secret('LibsqlAuthToken'),
    /** JUNJO_INTERNAL_GRPC_TOKEN: shared by the functions and the span query service (`openssl rand -hex 32`). */
    internalGrpcToken: new sst.Secret('InternalGrpcToken'),
    /** OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY: each enables its playground provider. */
    openaiApiKey: new sst.Secret('OpenaiApiKey', ''),
    anthropicApiKey: new sst.Secret('AnthropicApiKey', ''),
    geminiApiKey: new sst.Secret('GeminiApiKey', ''),
    /** JUNJO_PLAYGROUND_API_KEY: an API key of this server; playground runs are then traced. */
    playgroundApiKey: new sst.Secret('PlaygroundApiKey', ''),
  };
}

export type Secrets = ReturnType<typeof secrets>;

/**
 * A container's or function's environment with empty values dropped: an optional secret left empty must
 * read as unset, because the configuration rejects an empty API key rather than treating it as absent.
 */
export function environment(
  values: Record<string, $util.Input<string>>,
): $util.Output<Record<string, string>> {
  return $resolve(values).apply((resolved) =>
    Object.fromEntries(Object.entries(resolved).filter(([, value]) => value !== '')),
  );
}
