"""The ``gitcanary`` command line: ``run`` (the operator) and the tools around it.

:mod:`controller.cli.main` holds the click group; each other module adds one family of commands
(``convert``, ``gates``, ``ops``, ``tools``, ``watch``).
"""

from controller.cli.main import main

__all__ = ["main"]
