# The two commands a new user needs (see README.md):
#   make run    build and open the app on the default local database with the demo models
#   make test   install everything the tests need and run the whole test suite
# Both start with `scripts/setup.sh`, which is quick when everything is already installed.

CARGO ?= cargo

.PHONY: run test setup setup-gpu fixtures lint bench package package-check slurm-check

run: setup
	$(CARGO) run --release --bin panic-tda

test: setup fixtures
	$(CARGO) test --all-targets

setup:
	scripts/setup.sh

setup-gpu:
	scripts/setup.sh --gpu

fixtures:
	scripts/test-fixtures.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Release .deb (ONNX Runtime fetched per user by panic-tda-setup; BUNDLE_ORT=1 puts it inside)
# and a portable bundle (AppDir + tar.gz, and an AppImage when appimagetool is installed).
package: setup
	packaging/build-deb.sh release
	packaging/build-portable.sh release

# What CI runs: build the .deb from the test build, install it, run it, remove it.
package-check: setup
	packaging/check-deb.sh dev

# What CI runs after the tests: a real single-node Slurm (installed and started by the script;
# needs root) runs a dummy experiment as a 3-task array, and the merged database is checked.
# Uses the test build, target/debug/panic-tda (PANIC_TDA_BIN overrides); PANIC_TDA_SKIP_SLURM=1 skips.
slurm-check:
	tests/slurm/integration.sh
