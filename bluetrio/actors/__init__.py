"""The actor runtime and one actor per protocol layer.

See :mod:`bluetrio.actors.runtime` for the runtime (addressing, timers, tracing and fault
injection hooks) and :mod:`bluetrio.actors.effects` for the contract protocol cores fulfil.
"""
