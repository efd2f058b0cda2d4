"""Connection panel (Verbindungen): HAN gateway, optical head and GWA link at a glance."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

from app.context import AppContext, Link, LinkState, LinkStatus
from app.security.tls import format_fingerprint
from ui.i18n import text
from ui.widgets.status import StateBadge


def short_fingerprint(fp: str) -> str:
    """``AB:CD:EF:01 … 9A:BC`` (first four and last two bytes) of a hex fingerprint."""
    pretty = format_fingerprint("".join(ch for ch in fp if ch not in ": "))
    pairs = pretty.split(":")
    if len(pairs) <= 8:
        return pretty
    return ":".join(pairs[:4]) + " … " + ":".join(pairs[-2:])


class _LinkRelay(QObject):
    """Carries link changes from core listeners (any thread) into the GUI thread."""

    changed = Signal(object)


class LinkCard(QGroupBox):
    """One link: state badge, target, peer identity, fingerprint, last error."""

    def __init__(self, link: Link, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.setObjectName(f"link-{link.value}")
        self.setProperty("card", True)
        self._status = LinkStatus(link)
        self._target = ""
        self.badge = StateBadge(self)
        self.badge.setObjectName(f"badge-{link.value}")
        self.target = self._value_label("target")
        self.peer = self._value_label("peer")
        self.fingerprint = self._value_label("fingerprint")
        self.error = self._value_label("error")
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self._captions = [QLabel(self) for _ in range(5)]
        for caption, field in zip(
            self._captions,
            (self.badge, self.target, self.peer, self.fingerprint, self.error),
            strict=True,
        ):
            form.addRow(caption, field)
        form.itemAt(0, QFormLayout.ItemRole.FieldRole).setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.retranslate()

    def _value_label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(f"{self.link.value}-{name}")
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def set_target(self, target: str) -> None:
        self._target = target
        self._render()

    def show_status(self, status: LinkStatus) -> None:
        self._status = status
        self._render()

    def _state_label(self, state: LinkState) -> str:
        return {
            LinkState.UNKNOWN: self.tr("Not checked"),
            LinkState.CONNECTING: self.tr("Connecting…"),
            LinkState.CONNECTED: self.tr("Connected"),
            LinkState.FAILED: self.tr("Failed"),
        }[state]

    def _render(self) -> None:
        status = self._status
        self.badge.show_state(status.state, self._state_label(status.state))
        none = "—"
        self.target.setText(self._target or self.tr("not configured"))
        self.peer.setText(status.peer or none)
        if status.fingerprint:
            self.fingerprint.setText(short_fingerprint(status.fingerprint))
            self.fingerprint.setToolTip(
                self.tr("SHA-256: {fp}").format(fp=format_fingerprint(status.fingerprint))
            )
        else:
            self.fingerprint.setText(none)
            self.fingerprint.setToolTip("")
        self.error.setText(text(status.last_error) or none)
        self.error.setStyleSheet("color: #a50e0e;" if status.last_error else "")
        self.error.setToolTip(text(status.last_error))
        if status.updated is not None:
            stamp = status.updated.astimezone().strftime("%H:%M:%S")
            self.badge.setToolTip(self.tr("Last change: {time}").format(time=stamp))

    def retranslate(self) -> None:
        self.setTitle(
            {
                Link.HAN: self.tr("HAN gateway"),
                Link.OPTICAL: self.tr("Optical head"),
                Link.GWA: self.tr("GWA link"),
            }[self.link]
        )
        captions = (
            self.tr("State:"),
            self.tr("Target:"),
            self.tr("Peer:"),
            self.tr("Fingerprint:"),
            self.tr("Last error:"),
        )
        for label, caption in zip(self._captions, captions, strict=True):
            label.setText(caption)
        self._render()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)


class ConnectionPanel(QWidget):
    """The three link cards, kept up to date from :meth:`AppContext.update_link`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connection-panel")
        self.cards = {link: LinkCard(link, self) for link in Link}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for card in self.cards.values():
            layout.addWidget(card, 1)
        self._relay = _LinkRelay(self)
        self._relay.changed.connect(self._on_changed)
        self._detach: Callable[[], None] | None = None

    def bind(self, context: AppContext | None) -> None:
        """Show ``context``'s targets and follow its link changes."""
        self.unbind()
        if context is None:
            for card in self.cards.values():
                card.set_target("")
                card.show_status(LinkStatus(card.link))
            return
        self.cards[Link.HAN].set_target(
            f"{context.han.host}:{context.han.port}" if context.han else ""
        )
        self.cards[Link.GWA].set_target(context.gwa.base_url if context.gwa else "")
        self.cards[Link.OPTICAL].set_target(context.optical.port if context.optical else "")
        for status in context.links():
            self.cards[status.link].show_status(status)
        relay = self._relay

        def forward(status: LinkStatus) -> None:
            with contextlib.suppress(RuntimeError):  # the panel is gone: the window is closing
                relay.changed.emit(status)

        self._detach = context.add_listener(forward)

    def unbind(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None

    def _on_changed(self, status: LinkStatus) -> None:
        self.cards[status.link].show_status(status)
