# The two entry points of the README, plus the pieces they are made of.
#   make demo   set up a fresh Debian 12 machine and upscale real footage and a real photo
#   make test   set up what the tests need and run the whole test suite
.PHONY: demo test setup models plugin

BIN := target/release/aiupscale

setup:
	scripts/setup

models: setup
	$(BIN) models fetch realesr-animevideov3-x2 realesrgan-x4plus anime4k-x2-s-rl

plugin: setup
	scripts/install-gst-plugin

demo: models plugin
	scripts/demo

test:
	scripts/setup --no-build
	scripts/test
