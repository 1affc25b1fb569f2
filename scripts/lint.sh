#!/usr/bin/env bash
# The format and lint check CI runs (`npm run lint`): Biome over the TypeScript
# (biome.jsonc) and clang-format over native/ (.clang-format).
# `npm run format` applies both.
set -euo pipefail
cd "$(dirname "$0")/.."
native_files() { git ls-files 'native/*.cpp' 'native/*.h' 'native/*.cu' 'native/*.cuh' 'native/*.inc'; }
if [ "${1:-}" = "--write" ]; then
  node node_modules/@biomejs/biome/bin/biome check --write
  native_files | xargs clang-format -i
  exit 0
fi
node node_modules/@biomejs/biome/bin/biome check
if ! command -v clang-format >/dev/null 2>&1; then
  echo "arclight: lint: clang-format is missing; run scripts/ensure-clang-format.sh" >&2
  exit 1
fi
native_files | xargs clang-format --dry-run --Werror
echo "lint: TypeScript (biome) and native/ (clang-format) are clean."
