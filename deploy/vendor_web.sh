#!/usr/bin/env bash
# deploy/vendor_web.sh — vendor the dashboard's third-party files into web/node_modules:
# uPlot (MIT), pinned in web/package.json and web/package-lock.json, installed with `npm ci`
# from the npm registry.  cmake/embed_web.cmake then compiles uPlot's dist/uPlot.iife.min.js,
# dist/uPlot.min.css and its LICENSE into suanlid (served as /ui/uPlot.LICENSE.txt).
# A no-op when the pinned version is already there.  Called by sl_install_packages
# (deploy/lib.sh), so quickstart and test.sh have it before they build.
set -euo pipefail
cd "$(dirname "$0")/../web"
want=$(python3 -c 'import json; print(json.load(open("package.json"))["dependencies"]["uplot"])')
have=$(python3 -c 'import json; print(json.load(open("node_modules/uplot/package.json"))["version"])' 2>/dev/null || true)
if [[ "$have" != "$want" ]]; then
  command -v npm >/dev/null 2>&1 || { echo "vendor_web: npm is needed to vendor uPlot" >&2; exit 1; }
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
licence=$(python3 -c 'import json; print(json.load(open("node_modules/uplot/package.json"))["license"])')
if [[ "$licence" != MIT || ! -f node_modules/uplot/LICENSE ]]; then
  echo "vendor_web: uPlot's licence is '$licence', expected MIT with a LICENSE file" >&2
  exit 1
fi
