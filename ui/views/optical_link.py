"""The optical link of the main window (optische Schnittstelle): the connection panel's optical
card and the context's link state follow the optical read view (Zähler optisch auslesen)."""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.context import AppContext, Link, LinkState, OpticalTarget
from app.transports.optical import OpticalSnapshot, public_key_fingerprint
from ui.views.connections import ConnectionPanel
from ui.views.optical_view import OpticalReadView


class OpticalLinkFollower(QObject):
    """Connecting while the view reads, connected with the meter's identity once a telegram
    came, failed with the view's error, unknown when stopped before any telegram."""

    def __init__(self, view: OpticalReadView, context: AppContext,
                 panel: ConnectionPanel) -> None:
        super().__init__(view)
        self.view = view
        self.context = context
        self.panel = panel
        view.running_changed.connect(self._on_running)
        view.snapshot_received.connect(self._on_snapshot)

    def _on_running(self, running: bool) -> None:
        view = self.view
        if running:
            port, protocol = view.port, view.protocol
            self.context.optical = OpticalTarget(port, protocol)
            self.panel.cards[Link.OPTICAL].set_target(port)
            self.context.update_link(Link.OPTICAL, state=LinkState.CONNECTING, peer=None,
                                     fingerprint=None, last_error=None)
            return
        current = self.context.link(Link.OPTICAL)
        if view.error is not None:
            self.context.update_link(Link.OPTICAL, state=LinkState.FAILED,
                                     last_error=view.error.message)
        elif current.state is LinkState.CONNECTING:  # stopped before any telegram came
            self.context.update_link(Link.OPTICAL, state=LinkState.UNKNOWN)

    def _on_snapshot(self, snapshot: OpticalSnapshot) -> None:
        if snapshot.status.frames_ok == 0:
            return
        identity = snapshot.identity
        sid = identity.server_id
        peer = sid.display if sid is not None else None
        if peer and identity.manufacturer:
            peer = f"{peer} ({identity.manufacturer})"
        key = identity.public_key
        fingerprint = public_key_fingerprint(key) if key else None
        hint = snapshot.status.hint if snapshot.status.noisy else None
        current = self.context.link(Link.OPTICAL)
        wanted = (LinkState.CONNECTED, peer, fingerprint, hint)
        if (current.state, current.peer, current.fingerprint, current.last_error) != wanted:
            self.context.update_link(Link.OPTICAL, state=LinkState.CONNECTED, peer=peer,
                                     fingerprint=fingerprint, last_error=hint)
