# Die Seiten der Verwaltung (Deutsch).

steward-title = Verwaltung
steward-intro = Dritte zulassen, Profile veröffentlichen, die Regeln der Genossenschaft festlegen und Mitglieder betreuen.
steward-nav-label = Seiten der Verwaltung
steward-nav-overview = Übersicht
steward-nav-third-parties = Dritte
steward-nav-personas = Profile
steward-nav-coop-rules = Regeln der Genossenschaft
steward-nav-members = Mitglieder
steward-nav-datasets = Datensätze und Lizenzen
steward-nav-deletion-receipts = Überfällige Löschbestätigungen
steward-actions = Aktionen
steward-cancel = Abbrechen
steward-choose = Bitte wählen …
steward-next-page = Nächste Seite
steward-first-page = Erste Seite
steward-more-than = mehr als { $count }
steward-tag-allow = Erlaubt
steward-tag-deny = Verboten
steward-form-problems = Bitte korrigieren Sie Folgendes:

# Die Übersicht.
steward-dash-third-parties = Die Organisationen, die nach Daten der Mitglieder fragen dürfen: zulassen, sperren, wieder zulassen, neue Client-Geheimnisse.
steward-dash-third-parties-approved = Zugelassen
steward-dash-third-parties-suspended = Gesperrt
steward-dash-personas = Vorgefertigte Regelprofile, die Mitglieder übernehmen, indem sie ihnen ihre Entscheidungen übertragen.
steward-dash-personas-published = Veröffentlicht
steward-dash-coop-rules = Was keine Einwilligung eines Mitglieds erlauben kann: die eigenen Regeln der Genossenschaft, die nur verbieten.
steward-dash-coop-rules-count = Regeln
steward-dash-members = Die Mitglieder der Genossenschaft und Anmeldelinks für sie.
steward-dash-datasets = Aggregierte Datensätze, ihre Lizenzen und deren letzte Erstellung.
steward-dash-datasets-count = Datensätze
steward-dash-licenses-count = Lizenzen
steward-dash-deletion-receipts = Widerrufe, deren Empfänger die Löschung nicht rechtzeitig bestätigt hat.
steward-dash-deletion-receipts-overdue = Überfällig

# Fehler in einem Formular, je Feld.
steward-invalid-name = Geben Sie einen Namen in einer Zeile ohne unsichtbare Zeichen ein (höchstens 200 Zeichen für Dritte, 100 für ein Profil).
steward-invalid-description = Geben Sie eine Beschreibung von höchstens 2.000 Zeichen ohne unsichtbare Zeichen ein.
steward-invalid-class = Wählen Sie eine der Arten von Anfragenden der Genossenschaft.
steward-invalid-webhook-url = Geben Sie eine https-Adresse eines öffentlichen Hosts ohne Benutzernamen oder Passwort ein, oder lassen Sie das Feld leer.
steward-invalid-effect = Wählen Sie, ob die Regel erlaubt oder verbietet.
steward-invalid-requester = Wählen Sie, für wen die Regel gilt.
steward-invalid-data-categories = Wählen Sie mindestens eine Datenkategorie.
steward-invalid-purposes = Wählen Sie mindestens einen Zweck.
steward-invalid-expires-at = Geben Sie ein Datum nach dem heutigen ein, oder lassen Sie das Feld leer.
steward-invalid-limit = Damit hätte dieser Eigentümer mehr Regeln, als die Genossenschaft erlaubt.
steward-invalid-form = Das konnte nicht gespeichert werden. Prüfen Sie das Formular und versuchen Sie es erneut.

# Das Regelformular.
steward-rule-effect = Die Regel
steward-rule-effect-allow = Erlaubt
steward-rule-effect-deny = Verbietet
steward-rule-requester = Für wen
steward-rule-categories = Welche Daten
steward-rule-all-categories = Alle Datenkategorien
steward-rule-whole = { $label } (alles)
steward-rule-nested = { $parent }: { $label }
steward-rule-purposes = Für welche Zwecke
steward-rule-any-purpose = Jeder Zweck
steward-rule-until = Bis (freiwillig)
steward-rule-until-hint = Die Regel endet mit Beginn dieses Tages. Leer lassen für eine Regel ohne Ende.
steward-rules-number = Nr.
steward-rules-rule = Regel
steward-rules-added = Hinzugefügt
steward-rules-delete = Regel { $number } löschen

# Dritte.
steward-tp-title = Dritte
steward-tp-intro = Dritte sind die Organisationen, die nach Daten der Mitglieder fragen dürfen. Gesperrten Dritten wird jede Anfrage verweigert, bis sie wieder zugelassen sind.
steward-tp-list = Zugelassene Dritte
steward-tp-none = Noch keine Dritten zugelassen.
steward-tp-caption = Dritte in der Reihenfolge ihrer Zulassung
steward-tp-name = Name
steward-tp-class = Art
steward-tp-status = Status
steward-tp-status-active = Aktiv
steward-tp-status-suspended = Gesperrt
steward-tp-client-id = Client-ID
steward-tp-webhook = Webhook-Endpunkt
steward-tp-no-webhook = Keiner
steward-tp-approved-on = Zugelassen
steward-tp-suspend = { $name } sperren
steward-tp-reinstate = { $name } wieder zulassen
steward-tp-rotate = Neues Client-Geheimnis für { $name }
steward-tp-approve = Dritte zulassen
steward-tp-approve-intro = Zugelassene Dritte erhalten eine Client-ID und ein Client-Geheimnis, mit denen sie Zugriffstoken anfordern. Das Geheimnis wird einmal angezeigt, auf der nächsten Seite.
steward-tp-webhook-field = Webhook-Endpunkt (freiwillig)
steward-tp-webhook-hint = Wohin die Dritten erfahren, dass eine Einwilligung widerrufen wurde, zum Beispiel https://example.org/hooks/datacoop.
steward-tp-approve-button = Dritte zulassen
steward-secret-title = Geheimnis jetzt kopieren
steward-secret-once = Dieses Geheimnis wird nur dieses eine Mal angezeigt. Kopieren Sie es jetzt und übergeben Sie es den Dritten auf sicherem Weg.
steward-secret-approved = { $name } ist zugelassen. Das sind die Client-Zugangsdaten.
steward-secret-rotated = { $name } hat ein neues Client-Geheimnis.
steward-secret-client-secret = Client-Geheimnis
steward-secret-webhook-secret = Signaturgeheimnis des Webhooks
steward-secret-old-stopped = Das alte Geheimnis und alle damit ausgestellten Zugriffstoken gelten nicht mehr.
steward-secret-kept-as-hash = Der Broker speichert nur einen Hash des Client-Geheimnisses: Er kann es nicht noch einmal anzeigen. Geht es verloren, erstellen Sie ein neues.
steward-secret-back = Zurück zu den Dritten
steward-rotate-title = Neues Client-Geheimnis
steward-rotate-text = Ein neues Client-Geheimnis für { $name } macht das bisherige Geheimnis und alle damit ausgestellten Zugriffstoken sofort ungültig. Bis die Dritten das neue verwenden, können sie keine Daten anfragen.

# Profile.
steward-personas-title = Profile
steward-personas-intro = Ein Profil ist eine vorgefertigte Sammlung von Regeln. Mitglieder übernehmen es, indem sie ihm ihre Entscheidungen übertragen.
steward-personas-list = Veröffentlichte Profile
steward-personas-none = Noch kein Profil veröffentlicht.
steward-personas-published-on = Veröffentlicht
steward-personas-id = ID
steward-personas-rules = Seine Regeln
steward-personas-no-rules = Es hat keine Regeln.
steward-personas-publish = Ein Profil veröffentlichen
steward-personas-publish-intro = Hier wird ein Profil mit einer Regel veröffentlicht; über die API auch mit mehreren.
steward-personas-name = Name
steward-personas-description = Beschreibung
steward-personas-description-hint = Wofür das Profil steht, für Mitglieder, die eines wählen. Absätze durch eine Leerzeile trennen.
steward-personas-its-rule = Seine Regel
steward-personas-publish-button = Profil veröffentlichen

# Regeln der Genossenschaft.
steward-coop-title = Regeln der Genossenschaft
steward-coop-intro = Die Regeln der Genossenschaft gelten für alle Mitglieder und gehen jeder Einwilligung vor. Sie können nur verbieten.
steward-coop-list = Die Regeln der Genossenschaft
steward-coop-none = Die Genossenschaft hat keine eigenen Regeln.
steward-coop-caption = Regeln der Genossenschaft, die ältesten zuerst
steward-coop-add = Eine Regel der Genossenschaft hinzufügen
steward-coop-deny-only = Regeln der Genossenschaft können nur verbieten: Diese Regel verbietet, was Sie unten wählen.
steward-coop-add-button = Regel hinzufügen

# Mitglieder.
steward-members-title = Mitglieder
steward-members-intro = Die Mitglieder in der Reihenfolge ihres Beitritts. Mitglieder im anonymen Verzeichnis werden nur mit ihrer ID gezeigt.
steward-members-none = Hier sind keine Mitglieder.
steward-members-caption = Mitglieder in der Reihenfolge ihres Beitritts
steward-members-member = Mitglied
steward-members-id = ID
steward-members-registry = Verzeichnis
steward-members-joined = Beigetreten
steward-members-public = Öffentlich
steward-members-anonymous-registry = Anonym
steward-members-anonymous = Anonymes Mitglied
steward-members-member-id = Mitglied { $id }
steward-members-link = Anmeldelink für { $name } erstellen
steward-members-link-anonymous = Anmeldelink für Mitglied { $id } erstellen
steward-link-title = Anmeldelink
steward-link-once = Dieser Link wird nur einmal angezeigt. Er funktioniert einmal.
steward-link-intro = Geben Sie diesen Link { $who } persönlich und vertraulich: Wer ihn öffnet, ist als dieses Mitglied angemeldet.
steward-link-works-until = Gültig bis
steward-link-enrol = Das Mitglied meldet sich danach mit seinem Konto der Genossenschaft an, das dann mit seiner Mitgliedschaft verbunden wird.
steward-link-back = Zurück zu den Mitgliedern

# Datensätze und Lizenzen.
steward-datasets-title = Datensätze und Lizenzen
steward-datasets-intro = Aggregierte Datensätze zählen Mitglieder, deren Einwilligung es erlaubt; jede Lizenz erlaubt einem Dritten, die Erstellungen eines Datensatzes eine Zeit lang zu erhalten.
steward-datasets-list = Datensätze
steward-datasets-none = Noch kein Datensatz angelegt.
steward-datasets-caption = Datensätze in der Reihenfolge ihrer Anlage
steward-datasets-name = Datensatz
steward-datasets-purpose = Zweck
steward-datasets-categories = Datenkategorien
steward-datasets-k-min = Kleinste gezeigte Gruppe
steward-datasets-noise = Rauschen
steward-datasets-no-noise = Keins: genaue Zahlen, kleine Gruppen unterdrückt
steward-datasets-epsilon = ε { $epsilon } je Erstellung
steward-datasets-budget = Datenschutzbudget
steward-datasets-budget-spent = { $spent } von { $budget } verbraucht, { $left } übrig
steward-datasets-created = Angelegt
steward-datasets-more = Weitere Datensätze
steward-datasets-api = Datensätze und Lizenzen werden über die API angelegt, ebenso die Erstellungen.
steward-licenses-list = Lizenzen
steward-licenses-none = Noch keine Lizenz vergeben.
steward-licenses-caption = Lizenzen in der Reihenfolge ihrer Vergabe
steward-licenses-license = Lizenz
steward-licenses-dataset = Datensatz
steward-licenses-licensee = Lizenznehmer
steward-licenses-window-heading = Gültig
steward-licenses-window = { $from } bis { $until }
steward-licenses-data-life = Zeilen aufbewahrt
steward-licenses-days = { $days ->
    [one] { $days_text } Tag
   *[other] { $days_text } Tage
}
steward-licenses-status = Status
steward-licenses-status-active = Aktiv
steward-licenses-status-revoked = Widerrufen
steward-licenses-revoked-on = Widerrufen am { $date }
steward-licenses-latest = Letzte Erstellung
steward-licenses-no-build = Noch keine
steward-licenses-build-kept = Erstellt { $built }; die Zeilen werden bis { $until } aufbewahrt
steward-licenses-build-deleted = Erstellt { $built }; die Zeilen wurden am { $until } gelöscht
steward-licenses-revoke = Lizenz für { $dataset } an { $licensee } widerrufen
steward-licenses-nothing-to-do = Keine
steward-licenses-more = Weitere Lizenzen
steward-revoke-title = Eine Lizenz widerrufen
steward-revoke-text = Der Widerruf der Lizenz für { $dataset } an { $licensee } kann nicht rückgängig gemacht werden: Der Lizenznehmer wird benachrichtigt, muss die erhaltenen Zeilen löschen und kann nichts mehr abrufen.

# Überfällige Löschbestätigungen.
steward-receipts-title = Überfällige Löschbestätigungen
steward-receipts-intro = Wird eine Einwilligung widerrufen, erfährt es jeder Dritte, der die Daten erhalten hat, und muss bestätigen, dass er sie gelöscht hat. Diese Bestätigungen fehlen über die Frist hinaus, die ältesten zuerst.
steward-receipts-grace-days = { $days ->
    [one] Dritte haben { $days_text } Tag Zeit für die Bestätigung.
   *[other] Dritte haben { $days_text } Tage Zeit für die Bestätigung.
}
steward-receipts-grace-hours = { $hours ->
    [one] Dritte haben { $hours_text } Stunde Zeit für die Bestätigung.
   *[other] Dritte haben { $hours_text } Stunden Zeit für die Bestätigung.
}
steward-receipts-none = Keine Löschbestätigung ist überfällig.
steward-receipts-caption = Nicht rechtzeitig bestätigte Widerrufe
steward-receipts-event = Ereignis
steward-receipts-kind = Was
steward-receipts-consent-withdrawn = Einwilligung widerrufen
steward-receipts-license-revoked = Lizenz widerrufen
steward-receipts-license-expired = Lizenz abgelaufen
steward-receipts-not-applicable = Entfällt
steward-receipts-third-party = Dritte
steward-receipts-member = Mitglied
steward-receipts-purpose = Zweck
steward-receipts-categories = Datenkategorien
steward-receipts-sent = Gesendet
steward-receipts-delivery = Zustellung
steward-receipts-pending = Noch nicht zugestellt
steward-receipts-delivered = Zugestellt
steward-receipts-failed = Zustellung aufgegeben
steward-receipts-attempts = Versuche

# Was gerade getan wurde.
done-third-party-suspended = Die Dritten sind gesperrt: Jede ihrer Anfragen wird verweigert.
done-third-party-reinstated = Die Dritten sind wieder zugelassen.
done-persona-published = Das Profil ist veröffentlicht.
done-coop-rule-added = Die Regel der Genossenschaft ist hinzugefügt. Sie gilt ab sofort.
done-coop-rule-deleted = Die Regel der Genossenschaft ist gelöscht.
done-coop-rule-gone = Diese Regel war schon gelöscht.
done-license-revoked = Die Lizenz ist widerrufen. Der Lizenznehmer wird benachrichtigt.
