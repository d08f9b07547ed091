"""The ``hsrnet`` command: demo, train, predict, info, index-demo.

Exit status: 0 success, 1 runtime failure, 2 usage error or bad option value, 3 bad input data file, 4 bad
model file, 130 interrupted. Errors are one line on stderr, ``hsrnet: error: ...`` (HSRNET_DEBUG=1: traceback).

One module per subcommand (train, predict, info, demos), common.py for what they share, progress.py for
the training progress bar. The entry point is ``hsrnet.cli:main``.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..input_map import INPUT_MAPS
from ..network import OPTIMIZERS, STRATEGIES
from .common import (
    EXIT_DATA,
    EXIT_FAILURE,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    _fraction,
    _log2m,  # noqa: F401
    _neurons,
    _positive_float,
    _positive_int,
    _seed,
    _threads,
    _threshold,
)
from .demos import demo, index_demo
from .info import info
from .predict import predict
from .train import train

__all__ = [
    "main",
    "build_parser",
    "CLIError",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_DATA",
    "EXIT_MODEL",
    "demo",
    "index_demo",
    "info",
    "predict",
    "train",
]

DESCRIPTION = """\
hsrnet: train wide shifted-ReLU networks with exact sparse SGD (the cost follows the neurons that fire).

  hsrnet demo                                   sparse vs dense SGD side by side (no download, ~1 minute)
  hsrnet train DATA --target COL --task classify|regress -o model.hsr
  hsrnet predict model.hsr DATA [--target COL] [-o predictions.csv]
  hsrnet info model.hsr
"""


EPILOG = """\
data files: CSV (fields separated by , ; tab or |, detected or given by --delimiter; optional header row;
--target is a column name or a 0-based index, negative from the end; predict matches columns by name when
the model was trained on a CSV with a header), .npy (2-D numeric; --target is a column index), .npz (features in array 'X', the
target in the array named by --target, e.g. y; predict scores against 'y' when present), IDX as in MNIST,
gzipped or not (--target is the path of the labels IDX file; images are flattened and scaled to [0, 1]).

exit status: 0 success, 1 runtime failure, 2 usage error or bad option value, 3 bad input data file,
4 bad model file (missing, foreign, truncated, corrupted), 130 interrupted (Ctrl-C; nothing is written). Errors are one line on stderr; set HSRNET_DEBUG=1
for a traceback. Progress bars go to stderr, only when it is a terminal and --quiet is not given.
"""


def _add_data_options(p, target_required):
    p.add_argument("data", metavar="DATA", help="data file: .csv, .npy, .npz or IDX (.gz or not)")
    p.add_argument(
        "--target",
        metavar="COL",
        required=target_required,
        help="the target: CSV column name or 0-based index (negative from the end); .npy column "
        "index; .npz array name; IDX: the labels file"
        + ("" if target_required else " (optional: then used to print the score and dropped from the features)"),
    )
    p.add_argument(
        "--header",
        choices=("auto", "yes", "no"),
        default="auto",
        help="CSV: does the first row hold column names? (default: auto-detect)",
    )
    p.add_argument(
        "--delimiter",
        choices=("auto", ",", ";", "tab", "|"),
        default="auto",
        help="CSV: the field separator (default: auto-detect among , ; tab |)",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, ``hsrnet: error: ...`` with where to look, and exit status 2."""

    def error(self, message):
        if "required: command" in message:
            message = "a command is needed: demo, train, predict, info or index-demo"
        text = " ".join(str(message).split())
        self.exit(EXIT_USAGE, f"hsrnet: error: {text} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="hsrnet", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"hsrnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_train(sub)
    _add_predict(sub)

    p = sub.add_parser("info", help="describe a model file (and verify its checksum)")
    p.add_argument("model", metavar="MODEL")
    p.set_defaults(func=info)

    p = sub.add_parser("index-demo", help="exact half-space reporting on generated data, timed against numpy")
    p.add_argument("--log2m", type=int, default=20, help="log2 of the number of rows (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    p.set_defaults(func=index_demo)
    return parser


def _add_demo(sub):
    p = sub.add_parser(
        "demo",
        help="exact sparse SGD against dense SGD on the unit sphere, timed and plotted",
        description="Trains the same wide network with hsrnet's sparse SGD and with the dense "
        "reference, side by side on the same trajectory, and reports the times.",
    )
    p.add_argument("--quick", action="store_true", help="a small version that runs in a few seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--plot",
        metavar="PATH",
        default="hsrnet-demo.png",
        help="where to write the PNG plot of loss against time (default: hsrnet-demo.png); '' for none",
    )
    p.add_argument(
        "--threads",
        metavar="N",
        type=_positive_int,
        default=1,
        help="threads for both trainers (default 1: batch-1 steps are too small to share)",
    )
    p.add_argument(
        "--seed", metavar="S", type=_seed, default=0, help="seed for data, weights and shuffling (default 0)"
    )
    p.add_argument(
        "--log2m", metavar="K", type=_log2m, default=None, help="log2 of the width m (default 20; 14 with --quick)"
    )
    p.add_argument(
        "--steps", metavar="N", type=_positive_int, default=None, help="SGD steps (default 20000; 1000 with --quick)"
    )
    p.add_argument(
        "--strategy",
        choices=tuple(s for s in STRATEGIES if s != "dense"),  # dense is what the demo compares against
        default="auto",
        help="hsrnet's way of finding the firing neurons (default auto)",
    )
    p.set_defaults(func=demo)


def _add_train(sub):
    p = sub.add_parser(
        "train",
        help="train a classifier or regressor on a data file and save it",
        description="Trains an HSRClassifier or HSRRegressor on DATA and writes the model file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(p, target_required=True)
    p.add_argument("--task", choices=("classify", "regress"), required=True)
    p.add_argument("-o", "--output", metavar="MODEL", required=True, help="model file to write (e.g. model.hsr)")
    p.add_argument("--neurons", metavar="M", type=_neurons, help="hidden width m (default: the estimator's)")
    p.add_argument(
        "--epochs", metavar="N", type=_positive_int, help="maximum epochs, max_iter (default: the estimator's)"
    )
    p.add_argument(
        "--batch-size", metavar="B", type=_positive_int, help="samples per SGD step (default: the estimator's)"
    )
    p.add_argument(
        "--lr",
        metavar="RATE",
        type=_positive_float,
        help="learning_rate_init (default: the solver's measured rate; the summary shows the value used)",
    )
    p.add_argument(
        "--solver",
        choices=OPTIMIZERS,
        help="how firing rows move: adagrad (default), sgd (the paper's), rowwise_adagrad, adam",
    )
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="how firing neurons are found (same model for every choice; default auto)",
    )
    p.add_argument(
        "--threshold", metavar="B", type=_threshold, help="shift b of the ReLU: 'auto' (sqrt(0.4 ln m)) or a number"
    )
    p.add_argument(
        "--input-map",
        choices=INPUT_MAPS,
        help="map onto the unit sphere (default pca: 64 whitened principal directions; standardize: "
        "every feature; none: rows already have unit norm)",
    )
    p.add_argument(
        "--output-layer",
        choices=("train", "fixed"),
        help="train the output weights, or keep them fixed at random signs as in the paper (default train)",
    )
    p.add_argument("--threads", metavar="N", type=_threads, help="threads (n_jobs): a count or 'all' (default 1)")
    p.add_argument("--seed", metavar="S", type=_seed, default=0, help="random_state (default 0)")
    p.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out 10%% of the data and stop when its score stops improving",
    )
    p.add_argument(
        "--validation-fraction",
        metavar="F",
        type=_fraction,
        help="hold out this fraction of the data (e.g. 0.2), train on the rest and print the held-out "
        "score; warns when the training score is far above it (over-fitting)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="one line per epoch from the estimator")
    p.set_defaults(func=train)


def _add_predict(sub):
    p = sub.add_parser(
        "predict",
        help="predict with a saved model; CSV out",
        description="Writes predictions for DATA as CSV (column 'prediction'; with --proba also "
        "one probability column per class) to -o or stdout.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model file written by hsrnet train (or est.save)")
    _add_data_options(p, target_required=False)
    p.add_argument("-o", "--output", metavar="CSV", help="write predictions here (default, or '-': stdout)")
    p.add_argument("--proba", action="store_true", help="classifier: add class probability columns")
    p.set_defaults(func=predict)


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        from ..datasets import DataError
        from ..tensor_file import ModelFileError
    except KeyboardInterrupt:
        print("hsrnet: interrupted", file=sys.stderr)
        return 130

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("hsrnet: interrupted", file=sys.stderr)
        return 130
    except CLIError as e:
        return _fail(e, e.code)
    except DataError as e:
        return _fail(e, EXIT_DATA)
    except ModelFileError as e:
        return _fail(e, EXIT_MODEL)
    except MemoryError:
        return _fail("out of memory", EXIT_FAILURE)
    except Exception as e:  # a bug or an unforeseen failure: still one line, unless debugging
        return _fail(f"{type(e).__name__}: {e}", EXIT_FAILURE)


def _fail(message, code):
    if os.environ.get("HSRNET_DEBUG"):
        import traceback

        traceback.print_exc()
    text = " ".join(str(message).split()) or "failed"
    print(f"hsrnet: error: {text}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
