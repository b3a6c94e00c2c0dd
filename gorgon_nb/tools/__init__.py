"""The tool sets that come with gorgon-nb, one module each (see ``gorgon_nb.model.tools``).

Each module declares a ``TOOLSET`` (or ``TOOLSETS``); the registry loads them all the
first time a tool reference is resolved or checked.
"""
