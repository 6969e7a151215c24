"""Execute the book's notebooks in parallel into the build's execution cache (`make book` runs it first).

Jupyter Book executes notebooks one after the other while it reads them; on a machine with
several cores most of them sit idle. This script reads each chapter the way the book build does
(MyST-NB's reader, so the cache key matches), executes every chapter the cache does not hold
yet, one per core, and stores the results in `_config.yml`'s execution cache; the build then
finds them there. A chapter that fails is left out, so the build executes it again and reports
the error in its usual form. Models two chapters share are trained once (the model store waits).

    python tools/execute_book.py [--jobs N] [notebooks/NN_topic.md ...]
"""

import argparse
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.config import NbParserConfig
from myst_nb.core.read import create_nb_reader
from myst_parser.config.main import MdParserConfig

ROOT = Path(__file__).resolve().parent.parent


def read_chapter(path: Path, config: dict):
    """The notebook and its reader, as the book build reads them."""
    text = path.read_text()
    md_config = MdParserConfig(enable_extensions=set(config["parse"]["myst_enable_extensions"]))
    reader = create_nb_reader(str(path), md_config, NbParserConfig(), text)
    return reader.read(text), reader


def execute(path: Path, notebook, timeout: int):
    result = single_nb_execution(notebook, cwd=str(path.parent), timeout=timeout, allow_errors=False)
    return notebook, result.time, result.exc_string


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="notebooks executed at once")
    parser.add_argument("chapters", nargs="*", type=Path, help="default: every chapter in _toc.yml")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    cache = get_cache(str(ROOT / config["execute"]["cache"]))
    toc = re.findall(r"file: (notebooks/\S+)", (ROOT / "_toc.yml").read_text())
    chapters = [p.resolve() for p in args.chapters] or [ROOT / f"{doc}.md" for doc in toc]
    pending = {}
    for path in chapters:
        notebook, reader = read_chapter(path, config)
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            pending[path] = (notebook, reader)
    print(f"{len(chapters) - len(pending)} chapters cached; executing {len(pending)} with {args.jobs} workers")
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {path: pool.submit(execute, path, nb, config["execute"]["timeout"]) for path, (nb, _) in pending.items()}
        for path, future in futures.items():
            notebook, seconds, error = future.result()
            if error:
                print(f"{path.name}: failed; the book build executes it again and reports the error")
                continue
            stage = cache.add_nb_to_project(str(path), read_data=pending[path][1].read_fmt)
            cache.cache_notebook_bundle(CacheBundleIn(notebook, stage.uri, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"{path.name}: executed in {seconds:.1f} s")


if __name__ == "__main__":
    main()
