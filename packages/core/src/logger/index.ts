import { Logger } from '@aws-lambda-powertools/logger';
import * as Config from '../config/index.ts';

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
const SENSITIVE_KEY = /pass(word)?|secret|token|cookie|authorization|api[-_]?key|^key$|set-cookie/i;

export const REDACTED = '[REDACTED]';

/** JSON.stringify replacer used by the logger: redacts sensitive keys at any depth. */
export function redactSensitive(key: string, value: unknown): unknown {
  if (key && SENSITIVE_KEY.test(key) && value !== undefined && value !== null && value !== '')
    return REDACTED;
  return value;
}

/** The one logger: JSON lines, level from JUNJO_LOG_LEVEL once the config is loaded. */
export const logger = new Logger({
  serviceName: 'junjo-server',
  jsonReplacerFn: redactSensitive,
});

Config.onLoad((config) => {
  logger.setLogLevel(config.logLevel === 'silent' ? 'SILENT' : (config.logLevel.toUpperCase() as 'INFO'));
});
