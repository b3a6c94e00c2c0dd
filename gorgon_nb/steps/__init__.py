"""The kinds of step that come with gorgon-nb, one module each (see ``gorgon_nb.model.kinds``).

A module declares its kind as ``KIND`` (or several as ``KINDS``); the registry finds every
module of this package, so adding a kind is adding a module.
"""
