<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de" sourcelanguage="en">
<context>
    <name>AboutBox</name>
    <message>
        <source>About smgwct</source>
        <translation>Über smgwct</translation>
    </message>
    <message>
        <source>&lt;b&gt;smgwct {version}&lt;/b&gt;</source>
        <translation>&lt;b&gt;smgwct {version}&lt;/b&gt;</translation>
    </message>
    <message>
        <source>Commissioning tool for German smart meter gateways: guided installation, pairing and diagnostics over the HAN interface, the optical interface and the GWA link.</source>
        <translation>Inbetriebnahme-Werkzeug für Smart-Meter-Gateways: geführte Installation, Pairing und Diagnose über die HAN-Schnittstelle, die optische Schnittstelle und die GWA-Anbindung.</translation>
    </message>
    <message>
        <source>Qt {qt}, PySide6 {pyside}, Python {python}, {openssl}</source>
        <translation>Qt {qt}, PySide6 {pyside}, Python {python}, {openssl}</translation>
    </message>
</context>
<context>
    <name>FlowListPanel</name>
    <message>
        <source>Flows</source>
        <translation>Abläufe</translation>
    </message>
    <message>
        <source>Start flow</source>
        <translation>Ablauf starten</translation>
    </message>
    <message>
        <source>No flows are available in this build.</source>
        <translation>In dieser Version sind keine Abläufe verfügbar.</translation>
    </message>
</context>
<context>
    <name>LinkCard</name>
    <message>
        <source>Not checked</source>
        <translation>Nicht geprüft</translation>
    </message>
    <message>
        <source>Connecting…</source>
        <translation>Verbindung wird aufgebaut…</translation>
    </message>
    <message>
        <source>Connected</source>
        <translation>Verbunden</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>Fehlgeschlagen</translation>
    </message>
    <message>
        <source>not configured</source>
        <translation>nicht eingerichtet</translation>
    </message>
    <message>
        <source>SHA-256: {fp}</source>
        <translation>SHA-256: {fp}</translation>
    </message>
    <message>
        <source>Last change: {time}</source>
        <translation>Letzte Änderung: {time}</translation>
    </message>
    <message>
        <source>HAN gateway</source>
        <translation>HAN-Gateway</translation>
    </message>
    <message>
        <source>Optical head</source>
        <translation>Optischer Lesekopf</translation>
    </message>
    <message>
        <source>GWA link</source>
        <translation>GWA-Anbindung</translation>
    </message>
    <message>
        <source>State:</source>
        <translation>Zustand:</translation>
    </message>
    <message>
        <source>Target:</source>
        <translation>Ziel:</translation>
    </message>
    <message>
        <source>Peer:</source>
        <translation>Gegenstelle:</translation>
    </message>
    <message>
        <source>Fingerprint:</source>
        <translation>Fingerabdruck:</translation>
    </message>
    <message>
        <source>Last error:</source>
        <translation>Letzter Fehler:</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>The list of flows could not be loaded: {error}</source>
        <translation>Die Liste der Abläufe konnte nicht geladen werden: {error}</translation>
    </message>
    <message>
        <source>smgwct – SMGW commissioning</source>
        <translation>smgwct – SMGW-Inbetriebnahme</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>&amp;Datei</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>&amp;Beenden</translation>
    </message>
    <message>
        <source>&amp;View</source>
        <translation>&amp;Ansicht</translation>
    </message>
    <message>
        <source>Protocol &amp;trace</source>
        <translation>&amp;Protokollmitschnitt</translation>
    </message>
    <message>
        <source>&amp;Language</source>
        <translation>&amp;Sprache</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>&amp;Hilfe</translation>
    </message>
    <message>
        <source>&amp;About smgwct</source>
        <translation>&amp;Über smgwct</translation>
    </message>
    <message>
        <source>Connected to the built-in demo environment (virtual gateway and GWA).</source>
        <translation>Verbunden mit der eingebauten Demo-Umgebung (virtuelles Gateway und GWA).</translation>
    </message>
    <message>
        <source>--- {flow} started ---</source>
        <translation>--- {flow} gestartet ---</translation>
    </message>
    <message>
        <source>Cancelling the flow…</source>
        <translation>Ablauf wird abgebrochen…</translation>
    </message>
    <message>
        <source>--- {flow}: {outcome} ---</source>
        <translation>--- {flow}: {outcome} ---</translation>
    </message>
    <message>
        <source>Flow running</source>
        <translation>Ablauf läuft</translation>
    </message>
    <message>
        <source>Last flow: {outcome}</source>
        <translation>Letzter Ablauf: {outcome}</translation>
    </message>
    <message>
        <source>Ready</source>
        <translation>Bereit</translation>
    </message>
    <message>
        <source>Settings were reset</source>
        <translation>Einstellungen zurückgesetzt</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>Fehler</translation>
    </message>
    <message>
        <source>Cancelling the flow before closing…</source>
        <translation>Ablauf wird vor dem Schließen abgebrochen…</translation>
    </message>
</context>
<context>
    <name>PromptDialog</name>
    <message>
        <source>Please choose one of the options.</source>
        <extracomment>up to this many options are shown as radio buttons, more as a list</extracomment>
        <translation>Bitte wählen Sie eine der Möglichkeiten.</translation>
    </message>
    <message>
        <source>Question</source>
        <translation>Rückfrage</translation>
    </message>
    <message>
        <source>Cancel flow</source>
        <translation>Ablauf abbrechen</translation>
    </message>
</context>
<context>
    <name>Session</name>
    <message>
        <source>Starting the demo environment…</source>
        <translation>Demo-Umgebung wird gestartet…</translation>
    </message>
    <message>
        <source>smgwct could not start</source>
        <translation>smgwct konnte nicht starten</translation>
    </message>
</context>
<context>
    <name>StepModel</name>
    <message>
        <source>Pending</source>
        <translation>Ausstehend</translation>
    </message>
    <message>
        <source>Running</source>
        <translation>Läuft</translation>
    </message>
    <message>
        <source>Waiting for input</source>
        <translation>Wartet auf Eingabe</translation>
    </message>
    <message>
        <source>Succeeded</source>
        <translation>Erfolgreich</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>Fehlgeschlagen</translation>
    </message>
    <message>
        <source>Done earlier</source>
        <translation>Bereits erledigt</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>Abgebrochen</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Step</source>
        <translation>Schritt</translation>
    </message>
    <message>
        <source>Progress</source>
        <translation>Fortschritt</translation>
    </message>
    <message>
        <source>Message</source>
        <translation>Meldung</translation>
    </message>
</context>
<context>
    <name>StepView</name>
    <message>
        <source>Step “{step}” failed: {error}</source>
        <translation>Schritt „{step}“ fehlgeschlagen: {error}</translation>
    </message>
    <message>
        <source>No flow started yet</source>
        <translation>Noch kein Ablauf gestartet</translation>
    </message>
    <message>
        <source>running…</source>
        <translation>läuft…</translation>
    </message>
    <message>
        <source>Succeeded</source>
        <translation>Erfolgreich</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>Fehlgeschlagen</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>Abgebrochen</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Abbrechen</translation>
    </message>
    <message>
        <source>Cancel the running flow</source>
        <translation>Den laufenden Ablauf abbrechen</translation>
    </message>
    <message>
        <source>Choose a flow on the left and start it. Its steps are shown here.</source>
        <translation>Wählen Sie links einen Ablauf und starten Sie ihn. Seine Schritte erscheinen hier.</translation>
    </message>
</context>
<context>
    <name>TracePanel</name>
    <message>
        <source>Protocol trace</source>
        <translation>Protokollmitschnitt</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>Kopieren</translation>
    </message>
    <message>
        <source>Copy the whole trace to the clipboard</source>
        <translation>Den ganzen Mitschnitt in die Zwischenablage kopieren</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>Leeren</translation>
    </message>
    <message>
        <source>Protocol lines of the running flow appear here.</source>
        <translation>Hier erscheinen die Protokollzeilen des laufenden Ablaufs.</translation>
    </message>
</context>
</TS>
