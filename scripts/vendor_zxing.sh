#!/usr/bin/env bash
# Vendor @zxing/library into polling/static/tablet/vendor/zxing/ from the npm registry's package tarball.
#
# The tablet app decodes QR codes with it where the browser has no BarcodeDetector (polling/static/tablet/scan.js):
# no CDN and no npm at run time. Run this only to change the pinned version (update VERSION and INTEGRITY below from
# `npm view @zxing/library@X dist.integrity`), then commit the result.
#
#   scripts/vendor_zxing.sh            # re-vendor the pinned version
#
# Needs npm and node (only to download and check the tarball), tar and sha256sum.
set -euo pipefail

VERSION="0.23.0"
# npm's dist.integrity for @zxing/library@0.23.0: the tarball is checked against it before anything is copied.
INTEGRITY="sha512-6fkkoFwP8CHxl6ugnPsj74PLJgX2iRv5zczGAyt5OBzQgxFhuhF0NCEc4t4OvSr8xAv2MRLlI0Iu9ZGDZQ2urA=="

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/polling/static/tablet/vendor/zxing"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "@zxing/library@$VERSION" >/dev/null
TARBALL="zxing-library-$VERSION.tgz"
[ -f "$TARBALL" ] || { echo "npm pack did not produce $TARBALL" >&2; exit 1; }

actual="$(node -e 'const c = require("crypto"), fs = require("fs");
process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$TARBALL")"
if [ "$actual" != "$INTEGRITY" ]; then
    echo "integrity mismatch for $TARBALL:" >&2
    echo "  expected $INTEGRITY" >&2
    echo "  got      $actual" >&2
    exit 1
fi

tar xzf "$TARBALL"
packaged="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package/package.json | head -n1)"
[ "$packaged" = "$VERSION" ] || { echo "package.json says $packaged, expected $VERSION" >&2; exit 1; }

rm -rf "$DEST"
mkdir -p "$DEST"
cp package/umd/index.min.js "$DEST/"
cp package/LICENSE "$DEST/LICENSE"

{
    echo "@zxing/library $VERSION"
    echo "source: npm package @zxing/library@$VERSION (npm pack), unmodified files umd/index.min.js and LICENSE (Apache-2.0)"
    echo "tarball: $TARBALL sha256 $(sha256sum "$TARBALL" | cut -d' ' -f1)"
    echo "tarball integrity: $INTEGRITY"
    echo "used by: polling/static/tablet/scan.js (QR decoding where the browser has no BarcodeDetector); loaded on demand,"
    echo "cached by the tablet's service worker; no eval, no network, no CDN (the strict CSP holds)"
    echo "reproduce: scripts/vendor_zxing.sh"
    echo
    echo "sha256 of each vendored file:"
    (cd "$DEST" && find . -type f ! -name VERSION | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum)
} >"$DEST/VERSION"

echo "Vendored @zxing/library $VERSION into ${DEST#"$ROOT"/}"
