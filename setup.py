"""Packages, plus assets/: it sits at the top of the repository (Dash serves it from there in a
checkout) and is shipped inside the package as nanogpt_dash/assets (ui/app.py looks there first).
Everything else is in setup.cfg."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["nanogpt_dash", "nanogpt_dash.*"]), "nanogpt_dash.assets"],
    package_dir={"nanogpt_dash.assets": "assets"},
    package_data={"nanogpt_dash.assets": ["*.js", "*.css"]},
)
