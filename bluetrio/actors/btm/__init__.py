"""The device manager (BTM): controller bring-up, the ACL database, device and security
records, LE and BR/EDR link management, privacy.

Layout (one job per module): :mod:`.core` dispatches; :mod:`.commands` issues HCI commands;
:mod:`.bringup` configures the controller; :mod:`.le` advertising, scanning, central
connections; :mod:`.bredr` inquiry, paging, accepting, remote names; :mod:`.links` the ACL
database; :mod:`.devices` the device records; :mod:`.privacy` our RPA and peer resolution;
:mod:`.config` the settings.

Sending HCI commands (for every BTM module and for the security core)
--------------------------------------------------------------------
Use the core's one :class:`~.commands.CommandIssuer` (``btm_core.commands``)::

    def start(self, now: float) -> Effects:
        return self.commands.send(hci.AuthenticationRequested(handle), self._on_auth_status)

    def _on_auth_status(self, outcome: CommandOutcome, now: float) -> Effects:
        if not outcome.ok:           # non-zero status, or no answer at all
            ...                      # outcome.status, outcome.timed_out, outcome.describe()
        return []

``send(command, then, timeout=None)`` returns the effects to hand back to the shell; ``then``
runs with a :class:`~.commands.CommandOutcome` when the HciCommandCnf arrives
(``outcome.event`` is the Command Complete/Status, ``outcome.returned()`` the decoded return
parameters). The core routes every HciCommandCnf to the issuer, so a module never sees raw
tokens.

Security delegation contract
----------------------------
:class:`~.core.BtmCore` takes ``security`` (any object with the four methods below) or, when
None, builds ``bluetrio.actors.btm.security.SecurityCore(commands=..., config=..., links=...,
devices=...)`` if that module exists (``commands``: the CommandIssuer; ``config``: the
:class:`~.config.SecurityConfig`; ``links``: the :class:`~.links.AclDatabase`, read-only;
``devices``: the :class:`~.devices.DeviceRecords`). Without it BTM runs with no security.

* ``on_hci_event(event, now) -> Effects`` receives the security events listed in
  :data:`~.core.SECURITY_EVENTS` (link keys, IO capabilities, confirmations, passkeys, OOB,
  SSP/authentication complete, encryption change v1/v2 and key refresh, PIN, keypress, LE LTK
  request). BTM updates the link's ``encrypted`` flag itself before forwarding encryption
  changes.
* ``on_message(sender, message, now) -> Effects`` receives every message whose class derives
  from ``bluetrio.messages.btm_security.SecurityMessage``.
* ``on_link_up(link, now) -> Effects`` and ``on_link_down(handle, reason, now) -> Effects`` are
  called after the ACL database changed, before LinkUpInd/LinkDownInd go out.

Effects are the usual ones (``Send``, ``StartTimer`` with a :class:`TimerKey` whose owner is a
tuple starting with ``"security"`` — BTM routes such ``TimerExpired`` to ``on_message``).
"""
