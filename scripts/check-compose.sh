#!/usr/bin/env bash
# Validates docker-compose.yml with Debian's docker-compose (1.29): the schema with the default and with the
# `ui` profile, then what they select: ingest + api by default, the web UI only with `--profile ui`, health
# checks, start order and ports (50052 stays unpublished). Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# `config` needs the env_file; without one, validate the documented starting point (cp .env.example .env).
created=""
if [ ! -e .env ]; then
  cp .env.example .env
  created=1
fi
trap 'if [ -n "$created" ]; then rm -f .env; fi' EXIT

docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml --profile ui config -q
# compose 1.29 lists every service in `config` whatever the profile, with its `profiles`: check those.
docker-compose -f docker-compose.yml --profile ui config | python3 -c '
import sys, yaml

services = yaml.safe_load(sys.stdin)["services"]
default = {name for name, s in services.items() if not s.get("profiles")}
ui_only = {name for name, s in services.items() if "ui" in (s.get("profiles") or [])}
assert default == {"ingest", "api"}, f"default profile runs {sorted(default)}"
assert ui_only == {"ui"}, f"profile ui adds {sorted(ui_only)}"
assert services["ui"]["image"].startswith("mdrideout/junjo-ai-studio-frontend:"), services["ui"]["image"]
assert not services["ui"]["image"].endswith(":latest"), "pin the web UI image"

published = sorted(p["published"] for s in services.values() for p in s.get("ports", []))
assert published == [1323, 4318, 5153, 50051], f"published ports {published}"
for name in ("ingest", "api"):
    s = services[name]
    assert s["restart"] == "unless-stopped", name
    assert s["healthcheck"]["test"][0] == "CMD-SHELL", name
    assert any(v.startswith("junjo-data:/data") for v in s["volumes"]), f"{name} lacks the data volume"
assert services["api"]["depends_on"]["ingest"]["condition"] == "service_healthy"
assert services["ui"]["depends_on"]["api"]["condition"] == "service_healthy"
assert services["api"]["environment"]["JUNJO_QUERY_URL"] == "ingest:50052"
assert services["ingest"]["environment"]["JUNJO_INTERNAL_GRPC_HOST"] == "0.0.0.0"
print("docker-compose.yml: default profile " + ", ".join(sorted(default)) + "; profile ui adds ui")
'
