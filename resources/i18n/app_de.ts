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
    <name>DemoControl</name>
    <message>
        <source>Connected to the built-in demo environment (virtual gateway and GWA).</source>
        <translation>Verbunden mit der eingebauten Demo-Umgebung (virtuelles Gateway und GWA).</translation>
    </message>
    <message>
        <source>Scenario &apos;{name}&apos;: {title}</source>
        <translation>Szenario &apos;{name}&apos;: {title}</translation>
    </message>
    <message>
        <source>&amp;Demo</source>
        <translation>De&amp;mo</translation>
    </message>
    <message>
        <source>&amp;Switch scenario…</source>
        <translation>&amp;Szenario wechseln…</translation>
    </message>
    <message>
        <source>This window is not connected to the built-in demo environment, so there is no scenario to switch.</source>
        <translation>Dieses Fenster ist nicht mit der eingebauten Demo-Umgebung verbunden, daher gibt es kein Szenario zu wechseln.</translation>
    </message>
    <message>
        <source>The demo scenario is being switched.</source>
        <translation>Das Demo-Szenario wird gerade gewechselt.</translation>
    </message>
    <message>
        <source>A flow is running. Switch the scenario when it has ended, or cancel it first.</source>
        <translation>Ein Ablauf läuft. Wechseln Sie das Szenario, wenn er beendet ist, oder brechen Sie ihn vorher ab.</translation>
    </message>
    <message>
        <source>The scenario &apos;{name}&apos; is running already.</source>
        <translation>Das Szenario &apos;{name}&apos; läuft bereits.</translation>
    </message>
    <message>
        <source>Demo scenario not switched</source>
        <translation>Demo-Szenario nicht gewechselt</translation>
    </message>
    <message>
        <source>Demo scenario &apos;{name}&apos; is running: {title}</source>
        <translation>Demo-Szenario &apos;{name}&apos; läuft: {title}</translation>
    </message>
    <message>
        <source>Demo work orders added to the job list: {jobs}</source>
        <translation>Demo-Aufträge in die Auftragsliste aufgenommen: {jobs}</translation>
    </message>
</context>
<context>
    <name>DemoScenarioDialog</name>
    <message>
        <source>{name} (running)</source>
        <translation>{name} (läuft)</translation>
    </message>
    <message>
        <source>Switch demo scenario</source>
        <translation>Demo-Szenario wechseln</translation>
    </message>
    <message>
        <source>Choose the state the virtual gateway is in. The running demo environment stops and starts again in the chosen scenario; the flows then talk to it.</source>
        <translation>Wählen Sie den Zustand des virtuellen Gateways. Die laufende Demo-Umgebung hält an und startet im gewählten Szenario neu; die Abläufe sprechen dann mit ihr.</translation>
    </message>
    <message>
        <source>Scenario</source>
        <translation>Szenario</translation>
    </message>
    <message>
        <source>Gateway and site</source>
        <translation>Gateway und Standort</translation>
    </message>
    <message>
        <source>Start from the initial state</source>
        <translation>Vom Ausgangszustand beginnen</translation>
    </message>
    <message>
        <source>Without this, the scenario continues where its last demo session stopped (paired meters, profiles, a changed meter).</source>
        <translation>Ohne diese Option macht das Szenario dort weiter, wo seine letzte Demo-Sitzung aufgehört hat (gepaarte Zähler, Profile, ein gewechselter Zähler).</translation>
    </message>
</context>
<context>
    <name>FlowListPanel</name>
    <message>
        <source>No job selected</source>
        <translation>Kein Auftrag gewählt</translation>
    </message>
    <message>
        <source>For job {job}</source>
        <translation>Für Auftrag {job}</translation>
    </message>
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
    <name>FlowScenarioQuestion</name>
    <message>
        <source>Demo scenario</source>
        <translation>Demo-Szenario</translation>
    </message>
    <message>
        <source>“{flow}” finds the demo gateway as: {current_title} (scenario &apos;{current}&apos;). The flow is made for: {wanted_title} (scenario &apos;{wanted}&apos;).

Switch to the scenario &apos;{wanted}&apos;?</source>
        <translation>„{flow}“ findet das Demo-Gateway so vor: {current_title} (Szenario &apos;{current}&apos;). Gedacht ist der Ablauf für: {wanted_title} (Szenario &apos;{wanted}&apos;).

Zum Szenario &apos;{wanted}&apos; wechseln?</translation>
    </message>
    <message>
        <source>Switch: the demo environment starts again in &apos;{wanted}&apos;, from its initial state, then the flow starts. Run anyway: the flow runs against the gateway as it is.</source>
        <translation>Wechseln: Die Demo-Umgebung startet in &apos;{wanted}&apos; neu, vom Ausgangszustand, danach startet der Ablauf. Trotzdem ausführen: Der Ablauf läuft gegen das Gateway, wie es gerade ist.</translation>
    </message>
    <message>
        <source>Switch</source>
        <translation>Wechseln</translation>
    </message>
    <message>
        <source>Run anyway</source>
        <translation>Trotzdem ausführen</translation>
    </message>
</context>
<context>
    <name>GwaSetupDialog</name>
    <message>
        <source>Certificates (*.pem *.crt *.cer)</source>
        <translation>Zertifikate (*.pem *.crt *.cer)</translation>
    </message>
    <message>
        <source>Certificates and keys (*.p12 *.pfx *.pem *.key)</source>
        <translation>Zertifikate und Schlüssel (*.p12 *.pfx *.pem *.key)</translation>
    </message>
    <message>
        <source>Choose a file</source>
        <translation>Datei auswählen</translation>
    </message>
    <message>
        <source>Checking the certificates…</source>
        <translation>Zertifikate werden geprüft…</translation>
    </message>
    <message>
        <source>Set up the GWA link</source>
        <translation>GWA-Anbindung einrichten</translation>
    </message>
    <message>
        <source>The Gateway Administrator gives you the address of its technician interface, its CA certificate and your technician certificate. Only the file locations are saved in the settings.</source>
        <translation>Der Gateway-Administrator stellt Ihnen die Adresse seiner Techniker-Schnittstelle, sein CA-Zertifikat und Ihr Techniker-Zertifikat bereit. In den Einstellungen werden nur die Speicherorte der Dateien abgelegt.</translation>
    </message>
    <message>
        <source>GWA URL:</source>
        <translation>GWA-URL:</translation>
    </message>
    <message>
        <source>CA certificate:</source>
        <translation>CA-Zertifikat:</translation>
    </message>
    <message>
        <source>Technician certificate:</source>
        <translation>Techniker-Zertifikat:</translation>
    </message>
    <message>
        <source>Private key:</source>
        <translation>Privater Schlüssel:</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>Passwort:</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Durchsuchen…</translation>
    </message>
    <message>
        <source>PEM file of the GWA&apos;s certificate authority</source>
        <translation>PEM-Datei der Zertifizierungsstelle des GWA</translation>
    </message>
    <message>
        <source>PKCS#12 (.p12/.pfx) or PEM</source>
        <translation>PKCS#12 (.p12/.pfx) oder PEM</translation>
    </message>
    <message>
        <source>only for a PEM certificate without its key</source>
        <translation>nur bei einem PEM-Zertifikat ohne Schlüssel</translation>
    </message>
    <message>
        <source>only if the certificate is protected</source>
        <translation>nur bei geschütztem Zertifikat</translation>
    </message>
    <message>
        <source>Save the password in the keyring</source>
        <translation>Passwort im Schlüsselbund speichern</translation>
    </message>
    <message>
        <source>No secure keyring is available on this computer: the password is not saved and will be asked at every start.</source>
        <translation>Auf diesem Rechner ist kein sicherer Schlüsselbund verfügbar: Das Passwort wird nicht gespeichert und bei jedem Start erfragt.</translation>
    </message>
    <message>
        <source>The password is kept only in the operating system&apos;s keyring, never in the settings.</source>
        <translation>Das Passwort wird nur im Schlüsselbund des Betriebssystems abgelegt, nie in den Einstellungen.</translation>
    </message>
    <message>
        <source>Check and apply</source>
        <translation>Prüfen und übernehmen</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Abbrechen</translation>
    </message>
</context>
<context>
    <name>HanLogsView</name>
    <message>
        <source>Export the log as CSV</source>
        <translation>Log als CSV exportieren</translation>
    </message>
    <message>
        <source>Export the log as XML</source>
        <translation>Log als XML exportieren</translation>
    </message>
    <message>
        <source>CSV for Excel (*.csv)</source>
        <translation>CSV für Excel (*.csv)</translation>
    </message>
    <message>
        <source>XML (*.xml)</source>
        <translation>XML (*.xml)</translation>
    </message>
    <message>
        <source>Exporting {0} entries…</source>
        <translation>{0} Einträge werden exportiert…</translation>
    </message>
    <message>
        <source>{0} entries exported to {1}</source>
        <translation>{0} Einträge exportiert nach {1}</translation>
    </message>
    <message>
        <source>Gateway logs</source>
        <translation>Logs des Gateways</translation>
    </message>
    <message>
        <source>&amp;Log:</source>
        <translation>&amp;Log:</translation>
    </message>
    <message>
        <source>System log (service technician)</source>
        <translation>Systemlog (Servicetechniker)</translation>
    </message>
    <message>
        <source>Consumer log</source>
        <translation>Letztverbraucher-Log</translation>
    </message>
    <message>
        <source>Search message, event, subject…</source>
        <translation>Meldung, Ereignis, Subjekt suchen…</translation>
    </message>
    <message>
        <source>From</source>
        <translation>Von</translation>
    </message>
    <message>
        <source>To</source>
        <translation>Bis</translation>
    </message>
    <message>
        <source>Index:</source>
        <translation>Index:</translation>
    </message>
    <message>
        <source>Reset filter</source>
        <translation>Filter zurücksetzen</translation>
    </message>
    <message>
        <source>◀ Previous</source>
        <translation>◀ Zurück</translation>
    </message>
    <message>
        <source>Next ▶</source>
        <translation>Weiter ▶</translation>
    </message>
    <message>
        <source>Export CSV…</source>
        <translation>CSV exportieren…</translation>
    </message>
    <message>
        <source>UTF-8 with BOM and semicolons, for German Excel</source>
        <translation>UTF-8 mit BOM und Semikolon, für deutsches Excel</translation>
    </message>
    <message>
        <source>Export XML…</source>
        <translation>XML exportieren…</translation>
    </message>
    <message>
        <source>XML checked against log-export.xsd</source>
        <translation>XML, geprüft gegen log-export.xsd</translation>
    </message>
    <message>
        <source>Index</source>
        <translation>Index</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Zeit</translation>
    </message>
    <message>
        <source>Level</source>
        <translation>Stufe</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Ereignis</translation>
    </message>
    <message>
        <source>Subject / user</source>
        <translation>Subjekt / Benutzer</translation>
    </message>
    <message>
        <source>Message</source>
        <translation>Meldung</translation>
    </message>
    <message>
        <source>No log loaded: run the flow “Read logs”.</source>
        <translation>Kein Log geladen: Führen Sie den Ablauf „Logs abfragen“ aus.</translation>
    </message>
    <message>
        <source>Page {0} of {1} · {2} of {3} entries</source>
        <translation>Seite {0} von {1} · {2} von {3} Einträgen</translation>
    </message>
    <message>
        <source>{0}, read {1}</source>
        <translation>{0}, gelesen am {1}</translation>
    </message>
</context>
<context>
    <name>HanTechnicalView</name>
    <message>
        <source>Technical data of the gateway</source>
        <translation>Technische Gerätedaten</translation>
    </message>
    <message>
        <source>Run the flow “Read technical data” to see the gateway here.</source>
        <translation>Führen Sie den Ablauf „Technische Gerätedaten abfragen“ aus, um das Gateway hier zu sehen.</translation>
    </message>
    <message>
        <source>Assessment</source>
        <translation>Bewertung</translation>
    </message>
    <message>
        <source>Identity</source>
        <translation>Identität</translation>
    </message>
    <message>
        <source>Vendor:</source>
        <translation>Hersteller:</translation>
    </message>
    <message>
        <source>SMGW ID:</source>
        <translation>SMGW-ID:</translation>
    </message>
    <message>
        <source>Interface:</source>
        <translation>Schnittstelle:</translation>
    </message>
    <message>
        <source>Account:</source>
        <translation>Konto:</translation>
    </message>
    <message>
        <source>Operating state</source>
        <translation>Betriebszustand</translation>
    </message>
    <message>
        <source>Code:</source>
        <translation>Code:</translation>
    </message>
    <message>
        <source>Meaning:</source>
        <translation>Bedeutung:</translation>
    </message>
    <message>
        <source>Clock</source>
        <translation>Uhrzeit</translation>
    </message>
    <message>
        <source>Gateway:</source>
        <translation>Gateway:</translation>
    </message>
    <message>
        <source>Laptop:</source>
        <translation>Laptop:</translation>
    </message>
    <message>
        <source>Deviation:</source>
        <translation>Abweichung:</translation>
    </message>
    <message>
        <source>Firmware</source>
        <translation>Firmware</translation>
    </message>
    <message>
        <source>Component</source>
        <translation>Komponente</translation>
    </message>
    <message>
        <source>Version</source>
        <translation>Version</translation>
    </message>
    <message>
        <source>SHA-256 hash</source>
        <translation>SHA-256-Prüfsumme</translation>
    </message>
    <message>
        <source>Certificates</source>
        <translation>Zertifikate</translation>
    </message>
    <message>
        <source>Certificate</source>
        <translation>Zertifikat</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>Inhaber</translation>
    </message>
    <message>
        <source>Valid until</source>
        <translation>Gültig bis</translation>
    </message>
    <message>
        <source>SHA-256 fingerprint</source>
        <translation>SHA-256-Fingerabdruck</translation>
    </message>
    <message>
        <source>LMN meters</source>
        <translation>LMN-Zähler</translation>
    </message>
    <message>
        <source>Server ID</source>
        <translation>Server-ID</translation>
    </message>
    <message>
        <source>Evaluation profiles</source>
        <translation>Auswerteprofile</translation>
    </message>
    <message>
        <source>OBIS code</source>
        <translation>OBIS-Kennzahl</translation>
    </message>
    <message>
        <source>Last value</source>
        <translation>Letzter Wert</translation>
    </message>
    <message>
        <source>HAN, API version {0}</source>
        <translation>HAN, API-Version {0}</translation>
    </message>
    <message>
        <source>HAN</source>
        <translation>HAN</translation>
    </message>
    <message>
        <source>{0} s</source>
        <translation>{0} s</translation>
    </message>
    <message>
        <source>OK</source>
        <translation>OK</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>Hinweis</translation>
    </message>
    <message>
        <source>Warning</source>
        <translation>Warnung</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>Fehler</translation>
    </message>
    <message>
        <source>(Gütesiegel)</source>
        <translation>(Gütesiegel)</translation>
    </message>
    <message>
        <source>(operational)</source>
        <translation>(Wirkzertifikat)</translation>
    </message>
    <message>
        <source>Issuer: {0}</source>
        <translation>Aussteller: {0}</translation>
    </message>
    <message>
        <source>expired</source>
        <translation>abgelaufen</translation>
    </message>
    <message>
        <source>expires in {0} days</source>
        <translation>läuft in {0} Tagen ab</translation>
    </message>
    <message>
        <source>not readable with this account</source>
        <translation>mit diesem Konto nicht lesbar</translation>
    </message>
</context>
<context>
    <name>JobFormDialog</name>
    <message>
        <source>Saving the job…</source>
        <extracomment>the filled meter rows as last checked (problems name meters by this order) the question &quot;discard the typed work order?&quot; while it is open</extracomment>
        <translation>Auftrag wird gespeichert…</translation>
    </message>
    <message>
        <source>Please correct the marked entry.</source>
        <translation>Bitte korrigieren Sie den markierten Eintrag.</translation>
    </message>
    <message>
        <source>Please correct the {count} marked entries.</source>
        <translation>Bitte korrigieren Sie die {count} markierten Einträge.</translation>
    </message>
    <message>
        <source>New work order</source>
        <translation>Auftrag anlegen</translation>
    </message>
    <message>
        <source>Discard the typed work order?</source>
        <translation>Den eingegebenen Auftrag verwerfen?</translation>
    </message>
    <message>
        <source>The entries in this form are not saved yet.</source>
        <translation>Die Eingaben in diesem Formular sind noch nicht gespeichert.</translation>
    </message>
    <message>
        <source>Discard</source>
        <translation>Verwerfen</translation>
    </message>
    <message>
        <source>Keep editing</source>
        <translation>Weiter bearbeiten</translation>
    </message>
    <message>
        <source>Enter the job as written on the order. The entries are checked like an imported work order file; fields marked * are required.</source>
        <translation>Geben Sie den Auftrag so ein, wie er auf dem Auftragsschein steht. Die Angaben werden wie eine importierte Auftragsdatei geprüft; mit * markierte Felder sind Pflicht.</translation>
    </message>
    <message>
        <source>Job number *</source>
        <translation>Auftragsnummer *</translation>
    </message>
    <message>
        <source>Date</source>
        <translation>Datum</translation>
    </message>
    <message>
        <source>Customer</source>
        <translation>Kunde</translation>
    </message>
    <message>
        <source>Street and no. *</source>
        <translation>Straße und Hausnr. *</translation>
    </message>
    <message>
        <source>Postal code *</source>
        <translation>PLZ *</translation>
    </message>
    <message>
        <source>City *</source>
        <translation>Ort *</translation>
    </message>
    <message>
        <source>Location in the building</source>
        <translation>Einbauort im Gebäude</translation>
    </message>
    <message>
        <source>SMGW ID *</source>
        <translation>SMGW-ID *</translation>
    </message>
    <message>
        <source>GWA tenant *</source>
        <translation>GWA-Mandant *</translation>
    </message>
    <message>
        <source>Metering point ID *</source>
        <translation>Zählpunktbezeichnung *</translation>
    </message>
    <message>
        <source>Job</source>
        <translation>Auftrag</translation>
    </message>
    <message>
        <source>Site</source>
        <translation>Einsatzort</translation>
    </message>
    <message>
        <source>Gateway and metering point</source>
        <translation>Gateway und Zählpunkt</translation>
    </message>
    <message>
        <source>Expected meters</source>
        <translation>Erwartete Zähler</translation>
    </message>
    <message>
        <source>Add meter</source>
        <translation>Zähler hinzufügen</translation>
    </message>
    <message>
        <source>Planned flows *</source>
        <translation>Geplante Abläufe *</translation>
    </message>
    <message>
        <source>Notes</source>
        <translation>Hinweise</translation>
    </message>
    <message>
        <source>e.g. where the key to the meter room is</source>
        <translation>z. B. wo der Schlüssel zum Zählerraum liegt</translation>
    </message>
    <message>
        <source>Create job</source>
        <translation>Anlegen</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Abbrechen</translation>
    </message>
</context>
<context>
    <name>JobsPanel</name>
    <message>
        <source>open</source>
        <extracomment>(data folder, SMGW ID) -&gt; the report&apos;s signer; blocking, called in a worker thread.</extracomment>
        <translation>offen</translation>
    </message>
    <message>
        <source>completed</source>
        <translation>abgeschlossen</translation>
    </message>
    <message>
        <source>Import a work order</source>
        <translation>Auftrag importieren</translation>
    </message>
    <message>
        <source>Work orders ({patterns})</source>
        <translation>Aufträge ({patterns})</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>Notiz</translation>
    </message>
    <message>
        <source>Note for job {job}:</source>
        <translation>Notiz zum Auftrag {job}:</translation>
    </message>
    <message>
        <source>Seal</source>
        <translation>Plombe</translation>
    </message>
    <message>
        <source>Number of the seal fitted (e.g. DE-123456):</source>
        <translation>Nummer der gesetzten Plombe (z. B. DE-123456):</translation>
    </message>
    <message>
        <source>Building the commissioning report…</source>
        <translation>Inbetriebnahmeprotokoll wird erstellt…</translation>
    </message>
    <message>
        <source>Report: {path}</source>
        <translation>Protokoll: {path}</translation>
    </message>
    <message>
        <source>Data: {path}</source>
        <translation>Daten: {path}</translation>
    </message>
    <message>
        <source>Signature: {path}</source>
        <translation>Signatur: {path}</translation>
    </message>
    <message>
        <source>No job selected. Flows run without a work order.</source>
        <translation>Kein Auftrag gewählt. Abläufe laufen ohne Auftrag.</translation>
    </message>
    <message>
        <source>Current job {job}: {site}</source>
        <translation>Aktueller Auftrag {job}: {site}</translation>
    </message>
    <message>
        <source>Work order</source>
        <translation>Auftrag</translation>
    </message>
    <message>
        <source>SMGW ID</source>
        <translation>SMGW-ID</translation>
    </message>
    <message>
        <source>GWA tenant</source>
        <translation>GWA-Mandant</translation>
    </message>
    <message>
        <source>Meter</source>
        <translation>Zähler</translation>
    </message>
    <message>
        <source>Planned flows</source>
        <translation>Geplante Abläufe</translation>
    </message>
    <message>
        <source>Runs</source>
        <translation>Läufe</translation>
    </message>
    <message>
        <source>Readings</source>
        <translation>Zählerstände</translation>
    </message>
    <message>
        <source>fitted</source>
        <translation>gesetzt</translation>
    </message>
    <message>
        <source>removed</source>
        <translation>entfernt</translation>
    </message>
    <message>
        <source>checked</source>
        <translation>geprüft</translation>
    </message>
    <message>
        <source>Seals</source>
        <translation>Plomben</translation>
    </message>
    <message>
        <source>Notes</source>
        <translation>Notizen</translation>
    </message>
    <message>
        <source>Photos</source>
        <translation>Fotos</translation>
    </message>
    <message>
        <source>No certificate is set up for signing reports. Set it up under Settings, or build the report with: smgwct report build --job JOB --cert CERT --out FOLDER</source>
        <translation>Für das Signieren von Protokollen ist kein Zertifikat eingerichtet. Richten Sie es unter Einstellungen ein oder erstellen Sie das Protokoll mit: smgwct report build --job JOB --cert CERT --out FOLDER</translation>
    </message>
    <message>
        <source>Writes the signed report (PDF, XML, signature) into the job&apos;s folder and verifies it.</source>
        <translation>Schreibt das signierte Protokoll (PDF, XML, Signatur) in den Ordner des Auftrags und prüft es.</translation>
    </message>
    <message>
        <source>Job list</source>
        <translation>Auftragsliste</translation>
    </message>
    <message>
        <source>Jobs</source>
        <translation>Aufträge</translation>
    </message>
    <message>
        <source>Import…</source>
        <translation>Importieren…</translation>
    </message>
    <message>
        <source>New…</source>
        <translation>Neu…</translation>
    </message>
    <message>
        <source>Type in a work order on site</source>
        <translation>Einen Auftrag vor Ort eingeben</translation>
    </message>
    <message>
        <source>Job</source>
        <translation>Auftrag</translation>
    </message>
    <message>
        <source>Site</source>
        <translation>Einsatzort</translation>
    </message>
    <message>
        <source>State</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Entry</source>
        <translation>Eintrag</translation>
    </message>
    <message>
        <source>Value</source>
        <translation>Wert</translation>
    </message>
    <message>
        <source>No jobs yet. Import a work order file (XML or JSON) or type one in with New….</source>
        <translation>Noch keine Aufträge. Importieren Sie eine Auftragsdatei (XML oder JSON) oder legen Sie mit Neu… einen Auftrag an.</translation>
    </message>
    <message>
        <source>Note…</source>
        <translation>Notiz…</translation>
    </message>
    <message>
        <source>Seal…</source>
        <translation>Plombe…</translation>
    </message>
    <message>
        <source>Attach photo…</source>
        <translation>Foto anhängen…</translation>
    </message>
    <message>
        <source>Build report</source>
        <translation>Protokoll erstellen</translation>
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
        <extracomment>looking for runs the program was stopped in (offered for resuming), see :meth:`ResumeOffer.offer_interrupted_runs`</extracomment>
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
        <source>Read meter &amp;optically</source>
        <translation>Zähler &amp;optisch auslesen</translation>
    </message>
    <message>
        <source>&amp;Jobs</source>
        <translation>&amp;Aufträge</translation>
    </message>
    <message>
        <source>&amp;Settings</source>
        <translation>&amp;Einstellungen</translation>
    </message>
    <message>
        <source>Set up the &amp;GWA link…</source>
        <translation>&amp;GWA-Anbindung einrichten…</translation>
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
        <source>Switching the demo scenario…</source>
        <translation>Demo-Szenario wird gewechselt…</translation>
    </message>
    <message>
        <source>--- {flow} started ---</source>
        <translation>--- {flow} gestartet ---</translation>
    </message>
    <message>
        <source>&amp;Unfinished flows</source>
        <translation>&amp;Nicht abgeschlossene Abläufe</translation>
    </message>
    <message>
        <source>Set up the report &amp;signing certificate…</source>
        <translation>&amp;Signaturzertifikat für Protokolle einrichten…</translation>
    </message>
    <message>
        <source>--- {flow} resumed ---</source>
        <translation>--- {flow} fortgesetzt ---</translation>
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
        <source>GWA link set up: {url}. Run the connection check to test it.</source>
        <translation>GWA-Anbindung eingerichtet: {url}. Prüfen Sie sie mit dem Verbindungstest.</translation>
    </message>
    <message>
        <source>Reports are now signed with {path}.</source>
        <translation>Protokolle werden jetzt mit {path} signiert.</translation>
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
        <source>A typed work order is not saved yet: save or discard it, then close again.</source>
        <translation>Ein eingetippter Auftrag ist noch nicht gespeichert: Speichern oder verwerfen Sie ihn und schließen Sie dann erneut.</translation>
    </message>
    <message>
        <source>Cancelling the flow before closing…</source>
        <translation>Ablauf wird vor dem Schließen abgebrochen…</translation>
    </message>
</context>
<context>
    <name>MeterRow</name>
    <message>
        <source>new (installed)</source>
        <extracomment>the single-line fields of the form, by their name in the work order document</extracomment>
        <translation>neu (Einbau)</translation>
    </message>
    <message>
        <source>old (removed)</source>
        <translation>alt (Ausbau)</translation>
    </message>
    <message>
        <source>existing (kept)</source>
        <translation>vorhanden (bleibt)</translation>
    </message>
    <message>
        <source>Server ID of the meter (printed on the meter)</source>
        <translation>Server-ID des Zählers (auf dem Zähler aufgedruckt)</translation>
    </message>
    <message>
        <source>key reference (optional)</source>
        <translation>Schlüsselverweis (optional)</translation>
    </message>
    <message>
        <source>Where the meter&apos;s key material is kept, e.g. a file name or key ID - never the key itself</source>
        <translation>Wo das Schlüsselmaterial des Zählers liegt, z. B. Dateiname oder Schlüssel-ID – nie der Schlüssel selbst</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Entfernen</translation>
    </message>
</context>
<context>
    <name>OpticalReadView</name>
    <message>
        <source>likely a read head</source>
        <extracomment>registers that belong to the identity card, not to the register table</extracomment>
        <translation>vermutlich ein Lesekopf</translation>
    </message>
    <message>
        <source>Telegrams: {0}   valid: {1}   damaged: {2}   noise bytes: {3}</source>
        <translation>Telegramme: {0}   gültig: {1}   beschädigt: {2}   Störbytes: {3}</translation>
    </message>
    <message>
        <source>Reading live: the values update with every telegram.</source>
        <translation>Live-Auslesung: Die Werte werden mit jedem Telegramm aktualisiert.</translation>
    </message>
    <message>
        <source>No read head port is set up. Connect the read head and press Refresh, or enter a URL such as socket://127.0.0.1:7001.</source>
        <translation>Für den Lesekopf ist kein Anschluss eingerichtet. Schließen Sie den Lesekopf an und drücken Sie „Aktualisieren“, oder geben Sie eine URL wie socket://127.0.0.1:7001 ein.</translation>
    </message>
    <message>
        <source>Put the read head on the meter&apos;s optical interface and press Start.</source>
        <translation>Setzen Sie den Lesekopf auf die optische Schnittstelle des Zählers und drücken Sie „Start“.</translation>
    </message>
    <message>
        <source>Read meter optically</source>
        <translation>Zähler optisch auslesen</translation>
    </message>
    <message>
        <source>&amp;Port:</source>
        <translation>&amp;Anschluss:</translation>
    </message>
    <message>
        <source>Serial port of the read head, or a URL such as socket://127.0.0.1:7001</source>
        <translation>Serieller Anschluss des Lesekopfs oder eine URL wie socket://127.0.0.1:7001</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>Aktualisieren</translation>
    </message>
    <message>
        <source>List the serial ports again</source>
        <translation>Serielle Anschlüsse neu auflisten</translation>
    </message>
    <message>
        <source>P&amp;rotocol:</source>
        <translation>P&amp;rotokoll:</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>Automatisch</translation>
    </message>
    <message>
        <source>SML (9600 Bd)</source>
        <translation>SML (9600 Bd)</translation>
    </message>
    <message>
        <source>IEC 62056-21</source>
        <translation>IEC 62056-21</translation>
    </message>
    <message>
        <source>Start</source>
        <translation>Start</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>Stopp</translation>
    </message>
    <message>
        <source>Meter identity</source>
        <translation>Zähleridentität</translation>
    </message>
    <message>
        <source>Server ID:</source>
        <translation>Server-ID:</translation>
    </message>
    <message>
        <source>Server ID (hex):</source>
        <translation>Server-ID (hex):</translation>
    </message>
    <message>
        <source>Manufacturer:</source>
        <translation>Hersteller:</translation>
    </message>
    <message>
        <source>Public key (SHA-256):</source>
        <translation>Öffentlicher Schlüssel (SHA-256):</translation>
    </message>
    <message>
        <source>Protocol:</source>
        <translation>Protokoll:</translation>
    </message>
    <message>
        <source>OBIS code</source>
        <translation>OBIS-Kennzahl</translation>
    </message>
    <message>
        <source>Description</source>
        <translation>Bezeichnung</translation>
    </message>
    <message>
        <source>Value</source>
        <translation>Wert</translation>
    </message>
    <message>
        <source>Unit</source>
        <translation>Einheit</translation>
    </message>
    <message>
        <source>Copy to clipboard</source>
        <translation>In die Zwischenablage kopieren</translation>
    </message>
</context>
<context>
    <name>PhotoPicker</name>
    <message>
        <source>Attach a photo</source>
        <translation>Foto anhängen</translation>
    </message>
    <message>
        <source>Photos ({patterns})</source>
        <translation>Fotos ({patterns})</translation>
    </message>
    <message>
        <source>Photo</source>
        <translation>Foto</translation>
    </message>
    <message>
        <source>Caption for {file} (optional):</source>
        <translation>Bildunterschrift für {file} (optional):</translation>
    </message>
</context>
<context>
    <name>PromptDialog</name>
    <message>
        <source>Please choose one of the options.</source>
        <extracomment>up to this many options are shown as radio buttons, more as a list pairs of hex digits per line of a fingerprint block (SHA-256: two lines of 16)</extracomment>
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
    <name>ResumeOffer</name>
    <message>
        <source>The flow “{flow}” was interrupted at the step “{step}” (job {job}, {time}): the program or the laptop stopped while it ran.

Resume it now? Steps that succeeded are not repeated.</source>
        <translation>Der Ablauf „{flow}“ wurde beim Schritt „{step}“ unterbrochen (Auftrag {job}, {time}): Programm oder Laptop wurden währenddessen beendet.

Jetzt fortsetzen? Erfolgreiche Schritte werden nicht wiederholt.</translation>
    </message>
    <message>
        <source>{count} interrupted flows in all: see View &gt; Unfinished flows.</source>
        <translation>Insgesamt {count} unterbrochene Abläufe: siehe Ansicht &gt; Nicht abgeschlossene Abläufe.</translation>
    </message>
    <message>
        <source>Interrupted flow</source>
        <translation>Unterbrochener Ablauf</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>Fortsetzen</translation>
    </message>
    <message>
        <source>Later</source>
        <translation>Später</translation>
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
    <name>SignerSetupDialog</name>
    <message>
        <source>Certificates (*.pem *.crt *.cer *.p12 *.pfx)</source>
        <translation>Zertifikate (*.pem *.crt *.cer *.p12 *.pfx)</translation>
    </message>
    <message>
        <source>Private keys (*.key *.pem)</source>
        <translation>Private Schlüssel (*.key *.pem)</translation>
    </message>
    <message>
        <source>CA certificates (*.pem *.crt *.cer)</source>
        <translation>CA-Zertifikate (*.pem *.crt *.cer)</translation>
    </message>
    <message>
        <source>Choose a file</source>
        <translation>Datei auswählen</translation>
    </message>
    <message>
        <source>The certificate can sign commissioning reports.</source>
        <translation>Das Zertifikat kann Inbetriebnahmeprotokolle signieren.</translation>
    </message>
    <message>
        <source>Saving the password in the keyring…</source>
        <translation>Das Passwort wird im Schlüsselbund gespeichert…</translation>
    </message>
    <message>
        <source>Checking the certificate…</source>
        <translation>Zertifikat wird geprüft…</translation>
    </message>
    <message>
        <source>The certificate cannot be used; see the field marked above.</source>
        <translation>Das Zertifikat ist nicht verwendbar; siehe das oben markierte Feld.</translation>
    </message>
    <message>
        <source>{start} to {end}</source>
        <translation>{start} bis {end}</translation>
    </message>
    <message>
        <source>Root CA taken from the certificate file (SHA-256 {fingerprint}): compare the fingerprint with the one your PKI published, or choose the CA certificate file.</source>
        <translation>Vertrauensanker: Wurzel-CA aus der Zertifikatsdatei (SHA-256 {fingerprint}) – vergleichen Sie den Fingerabdruck mit dem von Ihrer PKI veröffentlichten oder wählen Sie die CA-Zertifikatsdatei.</translation>
    </message>
    <message>
        <source>Set up the report signing certificate</source>
        <translation>Signaturzertifikat für Protokolle einrichten</translation>
    </message>
    <message>
        <source>Commissioning reports are signed with your technician certificate (EC key). Choose it as a PEM file with its private key, or as a PKCS#12 file, and the CA certificate that verifies it. Only the file locations are saved in the settings.</source>
        <translation>Inbetriebnahmeprotokolle werden mit Ihrem Techniker-Zertifikat (EC-Schlüssel) signiert. Wählen Sie es als PEM-Datei mit privatem Schlüssel oder als PKCS#12-Datei, dazu das CA-Zertifikat, mit dem es geprüft wird. In den Einstellungen werden nur die Dateipfade gespeichert.</translation>
    </message>
    <message>
        <source>Certificate:</source>
        <translation>Zertifikat:</translation>
    </message>
    <message>
        <source>Private key:</source>
        <translation>Privater Schlüssel:</translation>
    </message>
    <message>
        <source>CA certificate:</source>
        <translation>CA-Zertifikat:</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>Passwort:</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Durchsuchen…</translation>
    </message>
    <message>
        <source>PEM (sub-CA may follow) or PKCS#12 (.p12/.pfx)</source>
        <translation>PEM (Sub-CA darf folgen) oder PKCS#12 (.p12/.pfx)</translation>
    </message>
    <message>
        <source>PEM, only if the certificate file has no key</source>
        <translation>PEM, nur wenn die Zertifikatsdatei keinen Schlüssel enthält</translation>
    </message>
    <message>
        <source>optional if the certificate file holds the root CA</source>
        <translation>optional, wenn die Zertifikatsdatei die Wurzel-CA enthält</translation>
    </message>
    <message>
        <source>only if the key is protected</source>
        <translation>nur wenn der Schlüssel geschützt ist</translation>
    </message>
    <message>
        <source>Save the password in the keyring</source>
        <translation>Passwort im Schlüsselbund speichern</translation>
    </message>
    <message>
        <source>No secure keyring is available on this computer: the password cannot be saved, so only certificates without a password can sign from the window.</source>
        <translation>Auf diesem Rechner ist kein sicherer Schlüsselbund verfügbar: Das Passwort kann nicht gespeichert werden, daher können im Fenster nur Zertifikate ohne Passwort signieren.</translation>
    </message>
    <message>
        <source>The password is kept only in the operating system&apos;s keyring, never in the settings.</source>
        <translation>Das Passwort wird nur im Schlüsselbund des Betriebssystems aufbewahrt, nie in den Einstellungen.</translation>
    </message>
    <message>
        <source>Signing certificate</source>
        <translation>Signaturzertifikat</translation>
    </message>
    <message>
        <source>Subject:</source>
        <translation>Inhaber:</translation>
    </message>
    <message>
        <source>Issuer:</source>
        <translation>Aussteller:</translation>
    </message>
    <message>
        <source>Valid:</source>
        <translation>Gültig:</translation>
    </message>
    <message>
        <source>SHA-256:</source>
        <translation>SHA-256:</translation>
    </message>
    <message>
        <source>Trust anchor:</source>
        <translation>Vertrauensanker:</translation>
    </message>
    <message>
        <source>Check</source>
        <translation>Prüfen</translation>
    </message>
    <message>
        <source>OK</source>
        <translation>OK</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Abbrechen</translation>
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
<context>
    <name>UnfinishedRunsPanel</name>
    <message>
        <source>interrupted</source>
        <translation>unterbrochen</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>fehlgeschlagen</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>abgebrochen</translation>
    </message>
    <message>
        <source>Run {run}</source>
        <translation>Lauf {run}</translation>
    </message>
    <message>
        <source>No unfinished flows. Every run so far has ended successfully.</source>
        <translation>Keine offenen Abläufe. Alle bisherigen Läufe sind erfolgreich abgeschlossen.</translation>
    </message>
    <message>
        <source>Unfinished flows</source>
        <translation>Nicht abgeschlossene Abläufe</translation>
    </message>
    <message>
        <source>Flows that were interrupted (the program or the laptop stopped), failed or were cancelled. Resuming continues at the step where the flow stopped; steps that succeeded are not repeated, and nothing the GWA did already is requested twice.</source>
        <translation>Abläufe, die unterbrochen wurden (Programm oder Laptop wurden beendet), fehlgeschlagen sind oder abgebrochen wurden. Beim Fortsetzen geht es bei dem Schritt weiter, an dem der Ablauf stehen blieb; erfolgreiche Schritte werden nicht wiederholt, und nichts, was der GWA schon erledigt hat, wird ein zweites Mal beauftragt.</translation>
    </message>
    <message>
        <source>Flow</source>
        <translation>Ablauf</translation>
    </message>
    <message>
        <source>Job</source>
        <translation>Auftrag</translation>
    </message>
    <message>
        <source>State</source>
        <translation>Zustand</translation>
    </message>
    <message>
        <source>Stopped at</source>
        <translation>Stehen geblieben bei</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Zeit</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>Aktualisieren</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>Fortsetzen</translation>
    </message>
</context>
<context>
    <name>VerdictView</name>
    <message>
        <source>Verdict: normal operation</source>
        <translation>Ergebnis: Normalbetrieb</translation>
    </message>
    <message>
        <source>Pairing result</source>
        <translation>Ergebnis des Pairings</translation>
    </message>
    <message>
        <source>Meter change summary</source>
        <translation>Zusammenfassung Zählerwechsel</translation>
    </message>
    <message>
        <source>Discovered gateways</source>
        <translation>Gefundene Gateways</translation>
    </message>
    <message>
        <source>Cancelled at step “{step}”</source>
        <translation>Abgebrochen im Schritt „{step}“</translation>
    </message>
    <message>
        <source>Stopped at step “{step}”</source>
        <translation>Angehalten im Schritt „{step}“</translation>
    </message>
    <message>
        <source>System in normal operation</source>
        <translation>System im Normalbetrieb</translation>
    </message>
    <message>
        <source>Meter {meter} is paired with gateway {gateway}</source>
        <translation>Zähler {meter} ist mit Gateway {gateway} gepaart</translation>
    </message>
    <message>
        <source>Meter {old} replaced by {new}</source>
        <translation>Zähler {old} durch {new} ersetzt</translation>
    </message>
    <message>
        <source>Gateway {gateway} at {address}</source>
        <translation>Gateway {gateway} unter {address}</translation>
    </message>
    <message>
        <source>Work order</source>
        <translation>Auftrag</translation>
    </message>
    <message>
        <source>Gateway</source>
        <translation>Gateway</translation>
    </message>
    <message>
        <source>Operating state</source>
        <translation>Betriebszustand</translation>
    </message>
    <message>
        <source>Meter</source>
        <translation>Zähler</translation>
    </message>
    <message>
        <source>paired</source>
        <translation>gepaart</translation>
    </message>
    <message>
        <source>paired (it was paired with this gateway already)</source>
        <translation>gepaart (war bereits mit diesem Gateway gepaart)</translation>
    </message>
    <message>
        <source>not paired</source>
        <translation>nicht gepaart</translation>
    </message>
    <message>
        <source>Outcome</source>
        <translation>Ergebnis</translation>
    </message>
    <message>
        <source>Crypto-Reset</source>
        <translation>Crypto-Reset</translation>
    </message>
    <message>
        <source>done</source>
        <translation>durchgeführt</translation>
    </message>
    <message>
        <source>not requested</source>
        <translation>nicht gewünscht</translation>
    </message>
    <message>
        <source>Meter TLS certificate</source>
        <translation>TLS-Zertifikat des Zählers</translation>
    </message>
    <message>
        <source>Old meter</source>
        <translation>Alter Zähler</translation>
    </message>
    <message>
        <source>New meter</source>
        <translation>Neuer Zähler</translation>
    </message>
    <message>
        <source>Seal</source>
        <translation>Plombe</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>Bemerkung</translation>
    </message>
    <message>
        <source>Gateways found</source>
        <translation>Gefundene Gateways</translation>
    </message>
    <message>
        <source>Identity check</source>
        <translation>Identitätsprüfung</translation>
    </message>
    <message>
        <source>{han} (HAN) = {order} (work order)</source>
        <translation>{han} (HAN) = {order} (Auftrag)</translation>
    </message>
    <message>
        <source>not done: the run has no work order</source>
        <translation>nicht durchgeführt: der Lauf hat keinen Auftrag</translation>
    </message>
    <message>
        <source>delivery state</source>
        <translation>Auslieferungszustand</translation>
    </message>
    <message>
        <source>normal operation</source>
        <translation>Normalbetrieb</translation>
    </message>
    <message>
        <source>not reached</source>
        <translation>nicht erreicht</translation>
    </message>
    <message>
        <source>Register (OBIS)</source>
        <translation>Register (OBIS)</translation>
    </message>
    <message>
        <source>Old meter: final reading</source>
        <translation>Alter Zähler: Endstand</translation>
    </message>
    <message>
        <source>New meter: initial reading</source>
        <translation>Neuer Zähler: Anfangsstand</translation>
    </message>
    <message>
        <source>Step: {step}</source>
        <translation>Schritt: {step}</translation>
    </message>
    <message>
        <source>Failed check: {step}</source>
        <translation>Fehlgeschlagene Prüfung: {step}</translation>
    </message>
    <message>
        <source>Likely cause and next action</source>
        <translation>Wahrscheinliche Ursache und nächster Schritt</translation>
    </message>
    <message>
        <source>No run of this flow has finished yet.</source>
        <translation>Noch kein Lauf dieses Ablaufs ist beendet.</translation>
    </message>
    <message>
        <source>Checks and evidence</source>
        <translation>Prüfungen und Nachweise</translation>
    </message>
    <message>
        <source>Readings</source>
        <translation>Zählerstände</translation>
    </message>
</context>
<context>
    <name>Workspace</name>
    <message>
        <source>Flow</source>
        <translation>Ablauf</translation>
    </message>
</context>
</TS>
