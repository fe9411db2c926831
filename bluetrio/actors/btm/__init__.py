"""The device manager (BTM): controller bring-up, the ACL database, device and security
records, LE and BR/EDR link management, privacy.

Layout (one job per module): :mod:`.core` dispatches; :mod:`.commands` issues HCI commands;
:mod:`.bringup` configures the controller; :mod:`.le` advertising, scanning, central
connections; :mod:`.bredr` inquiry, paging, accepting, remote names; :mod:`.links` the ACL
database; :mod:`.devices` the device records; :mod:`.privacy` our RPA and peer resolution;
:mod:`.config` the settings; :mod:`.timer_owners` the typed owners of BTM's timers.
Security: :mod:`.security` dispatches to :mod:`.security_policy` (the rules),
:mod:`.key_database` (bonds' keys), :mod:`.link_security` (authenticate and encrypt a link),
:mod:`.ssp` (Secure Simple Pairing) with :mod:`.prompts` (the user's answers),
:mod:`.le_keys` (LE LTK replies); per-link state in :mod:`.security_records`, its
transition tables in :mod:`.states`.

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

Security
--------
:class:`~.core.BtmCore` builds a :class:`~.security.SecurityCore` (or takes one) and hands it
the events of :data:`~.security.SECURITY_EVENTS`, every message deriving from
``bluetrio.messages.btm_security.SecurityMessage``, the expiry of timers whose owner is a
:class:`~.timer_owners.SecurityTimer`, and link up/down (after the ACL database changed,
before LinkUpInd/LinkDownInd go out). BTM updates the link's ``encrypted`` flag itself before
forwarding encryption changes. Requests (:class:`PairReq`, :class:`LinkSecurityReq`) are
answered to their sender; prompts, bonds to store and notices go to the app.
"""
