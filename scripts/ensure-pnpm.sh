# Sourced by scripts/start and scripts/test: puts the pnpm version pinned in
# package.json's "packageManager" on PATH, installing it with npm when missing.
# (corepack would be the natural choice, but its signature check fails
# against some registry mirrors, so npm installs the pinned version instead.)
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
  echo "installing pnpm $want with npm..." >&2
  npm install --global --silent "pnpm@$want" >&2 || {
    # Without write access to the global prefix, install under the repo.
    npm install --silent --prefix "$PWD/.pnpm-bootstrap" "pnpm@$want" >&2
    export PATH="$PWD/.pnpm-bootstrap/node_modules/.bin:$PATH"
  }
  hash -r
fi
