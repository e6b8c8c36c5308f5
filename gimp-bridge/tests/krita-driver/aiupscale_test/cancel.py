"""`kritarunner -s aiupscale_test.cancel -f upscale_file -- ARGS`: aiupscale.batch's
upscale_file, pressing "Cancel" at the first progress report."""

from aiupscale import batch


def upscale_file(args=None, *rest):
    return batch.upscale_file(args, *rest, progress=lambda fraction, label=None: fraction is None)
