# The two entry points of the README, plus the pieces they are made of.
#   make demo   set up a fresh Debian 12 machine and upscale real footage and a real photo
#   make test   set up what the tests need and run the whole test suite
.PHONY: demo test setup models plugin

BIN := target/release/aiupscale

setup:
	scripts/setup

# Optional: models are fetched on first use; this fetches the demo's ahead of time.
models: setup
	$(BIN) models fetch span-footage-blend-x2 realesrgan-x4plus anime4k-x2-s-rl

plugin: setup
	scripts/install-gst-plugin

# No fetch step: the element and the binary fetch a missing model on first use.
demo: plugin
	scripts/demo

test:
	scripts/setup --no-build
	scripts/test
