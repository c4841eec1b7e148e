#!/usr/bin/env bash
# Generates the tiny ONNX graphs and tokenizer files the model tests run on (same input/output
# names, dtypes and ranks as the real exports). Output: target/test-fixtures (or
# $PANIC_TDA_TEST_FIXTURES). Quick when they already exist.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${PANIC_TDA_TEST_FIXTURES:-target/test-fixtures}"
script=tests/fixtures/make_tiny_onnx.py
if [ ! -f "$script" ]; then
  exit 0
fi
stamp="$out/.stamp"
if [ -f "$stamp" ] && [ "$stamp" -nt "$script" ]; then
  exit 0
fi
python3 -m pip install --quiet --disable-pip-version-check -r tests/fixtures/requirements.txt
mkdir -p "$out"
python3 "$script" "$out"
touch "$stamp"
