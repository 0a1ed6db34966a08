"""Maps the repository's shipped data into the package; everything else is in pyproject.toml.

The built-in task families and the shipped warehouse (snapshot and models) stay top-level folders
of the repository, where people read and extend them; a wheel carries them inside the package as
``metasearch/_shipped/task_families`` and ``metasearch/_shipped/warehouse``, where
``metasearch._locations`` finds them. pyproject.toml cannot combine package discovery with such a
mapping, hence these few lines.
"""

from setuptools import find_packages, setup

SHIPPED = {f"metasearch._shipped.{name}": name for name in ("task_families", "warehouse")}

setup(packages=[*find_packages(include=["metasearch*"]), *SHIPPED], package_dir=SHIPPED)
