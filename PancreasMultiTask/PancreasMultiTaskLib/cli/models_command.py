"""``pancreas-mt models``: list, add and remove the models of the store the Slicer module and batch mode use too.

The store is ``$PANCREAS_MT_HOME/models`` (default ``~/.PancreasMultiTask/models``), resolved by
:func:`~PancreasMultiTaskLib.engine.model_store.models_home`; all the work is done by ``engine/models.py``. A model
installed here is usable as ``pancreas-mt predict -m NAME`` and, in the same store, by the Slicer module.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``models {list,add,remove}`` on the ``pancreas-mt`` sub-command parser."""
    models = sub.add_parser(
        "models",
        help="list, add or remove installed models (the store the Slicer module uses too)",
        description="Manage the model store ($PANCREAS_MT_HOME/models, default ~/.PancreasMultiTask/models). "
        "An installed model is used by name: pancreas-mt predict -m NAME.",
    )
    actions = models.add_subparsers(dest="models_command", required=True, metavar="{list,add,remove}")
    actions.add_parser(
        "list",
        help="one line per model: name, source, SHA-256, folds, subtypes",
        description="List the installed models, one line each: name, source (bundled, zip PATH, folder PATH or "
        "store), the SHA-256 of the zip it came from, folds, subtypes. A model that cannot be used is listed with "
        "its reason. The bundled demo model is listed too (unpacked on first use).",
    )
    add = actions.add_parser(
        "add",
        help="install a model zip (verified) or register a model folder",
        description="Install a model zip, verified as -m ZIP is (its SHA-256 from --sha256 or the <zip>.sha256 "
        "beside it, else refused; its members checked against its manifest), or register a model folder where it "
        "is (nothing copied), as the Slicer module's 'Add folder' does. A different model of the same name is "
        "refused unless --replace.",
    )
    add.add_argument("source", metavar="ZIP|FOLDER", help="a model zip or an nnU-Net v2 model folder")
    add.add_argument(
        "--sha256",
        metavar="HEX",
        help="the publisher's SHA-256 of the zip (default: read from <zip>.sha256 beside it; a zip with neither is "
        "refused)",
    )
    add.add_argument(
        "--name",
        metavar="NAME",
        help="the name to install it under: letters, digits, '.', '_', '-' (default: the zip manifest's name, or "
        "the folder's name)",
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="replace a different model installed under the same name (default: refuse)",
    )
    remove = actions.add_parser(
        "remove",
        help="delete an installed model, or forget a registered folder",
        description="Delete an installed model from the store, or forget a registered folder (its files stay).",
    )
    remove.add_argument("name", metavar="NAME", help="the model's name, as 'pancreas-mt models list' shows it")
    for parser in (models, add, remove):
        parser.set_defaults(models_parser=parser)


def run(args: argparse.Namespace) -> int:
    """Run ``pancreas-mt models ...``; errors are raised for the caller's one-line report."""
    from ..engine.model_store import models_home

    store = models_home()
    if args.models_command == "list":
        return list_command(store)
    if args.models_command == "add":
        return add_command(args, store)
    return remove_command(args.name, store)


def list_command(store) -> int:
    from ..engine.models import store_models

    rows = [("NAME", "SOURCE", "SHA-256", "FOLDS", "SUBTYPES")]
    for model in store_models(store):
        source = f"{model.source} {model.origin}" if model.origin and model.source != "bundled" else model.source
        if model.broken:
            rows.append((model.name, source, model.sha256 or "-", "-", f"BROKEN: {model.problem}"))
        else:
            subtypes = ", ".join(model.subtypes) if model.subtypes else "none (segmentation only)"
            rows.append((model.name, source, model.sha256 or "-", ",".join(model.folds), subtypes))
    print(f"Models in {store}:")
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])
    if len(rows) == 1:
        print("(none; add one with: pancreas-mt models add ZIP|FOLDER)")
    return EXIT_OK


def add_command(args: argparse.Namespace, store) -> int:
    from ..engine.models import add_model

    if args.sha256 and not args.source.lower().endswith(".zip"):
        args.models_parser.error("--sha256 checks a model zip; give it with a .zip")
    model, changed = add_model(args.source, store, sha256=args.sha256, name=args.name, replace=args.replace)
    folds, subtypes = ",".join(model.folds), ", ".join(model.subtypes) or "none"
    if model.registered:
        verb = "registered" if changed else "already registered:"
        print(f"{verb} {model.name} -> {model.path} (folds {folds}; subtypes {subtypes}; files stay where they are)")
    else:
        verb = "installed" if changed else "already installed:"
        print(f"{verb} {model.name} -> {model.path} (SHA-256 {model.sha256}; folds {folds}; subtypes {subtypes})")
    print(f"use it with: pancreas-mt predict -m {model.name} -i IN -o OUTDIR")
    return EXIT_OK


def remove_command(name: str, store) -> int:
    from ..engine.demo import demo_model_name
    from ..engine.models import remove_model

    removed = remove_model(store, name)
    if removed.registered:
        print(f"forgot {name} (its files stay in {removed.path})")
    else:
        print(f"removed {name} (deleted {removed.path})")
    if name == demo_model_name():
        print("the bundled demo model is unpacked again when next used", file=sys.stderr)
    return EXIT_OK
