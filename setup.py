"""Ships the top-level `sql/` (migrations, views, examples) and `config/` (the example config)
inside the built package, so `pip install .` and a wheel work from any folder.

The repository keeps them at the top level, where analysts and reviewers look for them; an
editable install reads them there (newswatch.store.db.SQL_DIR, newswatch.config), a built one
from `newswatch/sql` and `newswatch/default_config`. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = {"sql": "sql", "config": "default_config"}  # top-level folder -> folder inside newswatch/


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the top-level folders in place
        for source, target in SHIPPED.items():
            dest = Path(self.build_lib) / "newswatch" / target
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(HERE / source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
