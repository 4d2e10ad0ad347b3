#!/usr/bin/env bash
# Vendor Chart.js from npm into console/static/vendor (the console and the report serve it
# themselves: no CDN). Usage: bash scripts/vendor-chartjs.sh [VERSION]  (default 4.6.1)
set -euo pipefail
version=${1:-4.6.1}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "chart.js@$version" >/dev/null && tar xzf "chart.js-$version.tgz")
cp "$work/package/dist/chart.umd.min.js" "$here/console/static/vendor/chart.umd.min.js"
cp "$work/package/LICENSE.md" "$here/console/static/vendor/chart.js-LICENSE.md"
echo "chart.js $version: sha256 $(sha256sum "$work/chart.js-$version.tgz" | cut -d' ' -f1)"
echo "update console/static/vendor/README.md with the version and checksum"
