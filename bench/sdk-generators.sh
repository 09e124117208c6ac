#!/usr/bin/env bash
# Generates SDKs from the OpenAPI document with two independent generators and checks them:
#   - openapi-generator (typescript-fetch), type-checked with `tsc --strict`;
#   - openapi-python-client, every generated module imported.
# Prints the number of generated models of each. The document is the one GET /v1/openapi.json
# serves (built from the route table by bench/print-openapi.ts; no server needed).
#
#   pip install openapi-python-client        # a development tool, not a dependency of the project
#   bench/sdk-generators.sh
#
# openapi-generator needs Java 11+; its jar is taken from OPENAPI_GENERATOR_JAR, else downloaded
# once from Maven Central into the cache directory (CACHE_DIR, else ~/.cache/codex-gateway). Its OpenAPI 3.1 support (beta) turns the document's
# `webhooks` section into broken API methods (empty type imports), so it gets the document
# without that section; the event payload models are still generated from components.schemas.
set -euo pipefail
cd "$(dirname "$0")/.."

OAG_VERSION=${OAG_VERSION:-7.17.0}
PYTHON_CLIENT=${OPENAPI_PYTHON_CLIENT:-openapi-python-client}
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/codex-sdk-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

npx tsx bench/print-openapi.ts > "$WORK/openapi.json"
node -e "const d=require('$WORK/openapi.json'); delete d.webhooks; require('fs').writeFileSync('$WORK/openapi-no-webhooks.json', JSON.stringify(d))"
fail=0

# openapi-generator, typescript-fetch, strict tsc
JAR=${OPENAPI_GENERATOR_JAR:-${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codex-gateway}/openapi-generator-cli-$OAG_VERSION.jar}
if [ ! -f "$JAR" ]; then
  mkdir -p "$(dirname "$JAR")"
  curl -sfL -o "$JAR.part" "https://repo1.maven.org/maven2/org/openapitools/openapi-generator-cli/$OAG_VERSION/openapi-generator-cli-$OAG_VERSION.jar" && mv "$JAR.part" "$JAR"
fi
java -jar "$JAR" generate -g typescript-fetch -i "$WORK/openapi-no-webhooks.json" -o "$WORK/ts" > "$WORK/oag.log" 2>&1 || { tail -20 "$WORK/oag.log"; echo "openapi-generator: generation FAILED"; fail=1; }
if [ -d "$WORK/ts/models" ]; then
  ln -s "$PWD/node_modules" "$WORK/ts/node_modules"
  cat > "$WORK/ts/tsconfig.json" <<'JSON'
{ "compilerOptions": { "strict": true, "noEmit": true, "target": "ES2022", "module": "ESNext", "moduleResolution": "Bundler", "lib": ["ES2022", "DOM"], "skipLibCheck": true, "types": [] }, "include": ["**/*.ts"], "exclude": ["node_modules"] }
JSON
  ts_models=$(find "$WORK/ts/models" -name '*.ts' ! -name index.ts | wc -l)
  if npx tsc -p "$WORK/ts"; then echo "openapi-generator typescript-fetch $OAG_VERSION: $ts_models models, tsc --strict: ok"; else echo "openapi-generator typescript-fetch: tsc --strict FAILED"; fail=1; fi
fi

# openapi-python-client, every module imported
if command -v "$PYTHON_CLIENT" >/dev/null; then
  (cd "$WORK" && "$PYTHON_CLIENT" generate --path openapi.json --output-path py --meta none > opc.log 2>&1) || { tail -20 "$WORK/opc.log"; echo "openapi-python-client: generation FAILED"; fail=1; }
  if [ -d "$WORK/py/models" ]; then
    py_models=$(find "$WORK/py/models" -name '*.py' ! -name __init__.py | wc -l)
    if (cd "$WORK" && "$PYTHON" -c "
import importlib, pkgutil, py
for m in pkgutil.walk_packages(py.__path__, 'py.'): importlib.import_module(m.name)
"); then echo "openapi-python-client $("$PYTHON_CLIENT" --version 2>/dev/null | awk '{print $NF}'): $py_models models, every module imports: ok"; else echo "openapi-python-client: import FAILED"; fail=1; fi
  fi
else
  echo "openapi-python-client not found: pip install openapi-python-client (or set OPENAPI_PYTHON_CLIENT)"; fail=1
fi
exit $fail
