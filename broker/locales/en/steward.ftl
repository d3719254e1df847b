# The stewards' pages (English).

steward-title = Stewards
steward-intro = Approve third parties, publish personas, set the co-op's rules and look after members.
steward-nav-label = Stewards' pages
steward-nav-overview = Overview
steward-nav-third-parties = Third parties
steward-nav-personas = Personas
steward-nav-coop-rules = Co-op rules
steward-nav-members = Members
steward-nav-datasets = Datasets and licenses
steward-nav-deletion-receipts = Overdue deletion receipts
steward-actions = Actions
steward-cancel = Cancel
steward-choose = Choose…
steward-next-page = Next page
steward-first-page = First page
steward-more-than = more than { $count }
steward-tag-allow = Allowed
steward-tag-deny = Denied
steward-form-problems = Please correct the following:

# The overview.
steward-dash-third-parties = The organisations that may ask for members' data: approve, suspend, reinstate, new client secrets.
steward-dash-third-parties-approved = Approved
steward-dash-third-parties-suspended = Suspended
steward-dash-personas = Preset profiles of rules that members may adopt by delegating to them.
steward-dash-personas-published = Published
steward-dash-coop-rules = What no member's consent can allow: the co-op's own rules, which only deny.
steward-dash-coop-rules-count = Rules
steward-dash-members = The co-op's members, and sign-in links for them.
steward-dash-datasets = Aggregate datasets, the licenses for them and their latest builds.
steward-dash-datasets-count = Datasets
steward-dash-licenses-count = Licenses
steward-dash-deletion-receipts = Withdrawals whose recipient has not confirmed the deletion in time.
steward-dash-deletion-receipts-overdue = Overdue

# Problems with a form, by field.
steward-invalid-name = Enter a name on one line, without invisible characters (at most 200 characters for a third party, 100 for a persona).
steward-invalid-description = Enter a description of at most 2,000 characters, without invisible characters.
steward-invalid-class = Choose one of the co-op's requester classes.
steward-invalid-webhook-url = Enter an https address of a public host, without a user name or password, or leave the field empty.
steward-invalid-effect = Choose whether the rule allows or denies.
steward-invalid-requester = Choose who the rule is about.
steward-invalid-data-categories = Choose at least one data category.
steward-invalid-purposes = Choose at least one purpose.
steward-invalid-expires-at = Enter a date after today, or leave the field empty.
steward-invalid-limit = This would hold more rules than the co-op allows one owner.
steward-invalid-form = This could not be saved. Check the form and try again.

# The rule form.
steward-rule-effect = The rule
steward-rule-effect-allow = Allows
steward-rule-effect-deny = Denies
steward-rule-requester = Who
steward-rule-categories = Which data
steward-rule-all-categories = All data categories
steward-rule-whole = { $label } (all)
steward-rule-nested = { $parent }: { $label }
steward-rule-purposes = For which purposes
steward-rule-any-purpose = Any purpose
steward-rule-until = Until (optional)
steward-rule-until-hint = The rule ends as this day begins. Leave it empty for a rule without an end.
steward-rules-number = No.
steward-rules-rule = Rule
steward-rules-added = Added
steward-rules-delete = Delete rule { $number }

# Third parties.
steward-tp-title = Third parties
steward-tp-intro = Third parties are the organisations that may ask for members' data. A suspended third party is denied every request until it is reinstated.
steward-tp-list = Approved third parties
steward-tp-none = No third party is approved yet.
steward-tp-caption = Third parties, in the order they were approved
steward-tp-name = Name
steward-tp-class = Class
steward-tp-status = Status
steward-tp-status-active = Active
steward-tp-status-suspended = Suspended
steward-tp-client-id = Client ID
steward-tp-webhook = Webhook endpoint
steward-tp-no-webhook = None
steward-tp-approved-on = Approved
steward-tp-suspend = Suspend { $name }
steward-tp-reinstate = Reinstate { $name }
steward-tp-rotate = New client secret for { $name }
steward-tp-approve = Approve a third party
steward-tp-approve-intro = The third party gets a client ID and a client secret to ask for access tokens with. The secret is shown once, on the next page.
steward-tp-webhook-field = Webhook endpoint (optional)
steward-tp-webhook-hint = Where the third party hears that consent was withdrawn, for example https://example.org/hooks/datacoop.
steward-tp-approve-button = Approve third party
steward-secret-title = Copy the secret now
steward-secret-once = This is the only time this secret is shown. Copy it now and hand it to the third party securely.
steward-secret-approved = { $name } is approved. These are its client credentials.
steward-secret-rotated = { $name } has a new client secret.
steward-secret-client-secret = Client secret
steward-secret-webhook-secret = Webhook signing secret
steward-secret-old-stopped = The old secret, and every access token issued with it, stopped working.
steward-secret-kept-as-hash = The broker keeps only a hash of the client secret: it cannot show it again. If it is lost, make a new one.
steward-secret-back = Back to the third parties
steward-rotate-title = New client secret
steward-rotate-text = A new client secret for { $name } stops the current secret, and every access token issued with it, at once. The third party cannot ask for data until it uses the new one.

# Personas.
steward-personas-title = Personas
steward-personas-intro = A persona is a preset profile of rules. Members adopt one by delegating their decisions to it.
steward-personas-list = Published personas
steward-personas-none = No persona is published yet.
steward-personas-published-on = Published
steward-personas-id = ID
steward-personas-rules = Its rules
steward-personas-no-rules = It has no rules.
steward-personas-publish = Publish a persona
steward-personas-publish-intro = A persona is published with one rule here; the API publishes personas with several.
steward-personas-name = Name
steward-personas-description = Description
steward-personas-description-hint = What the persona stands for, for members choosing one. Separate paragraphs with an empty line.
steward-personas-its-rule = Its rule
steward-personas-publish-button = Publish persona

# Co-op rules.
steward-coop-title = Co-op rules
steward-coop-intro = The co-op's rules apply to every member and beat any member's consent. They can only deny.
steward-coop-list = The co-op's rules
steward-coop-none = The co-op has no rules of its own.
steward-coop-caption = Co-op rules, oldest first
steward-coop-add = Add a co-op rule
steward-coop-deny-only = Co-op rules can only deny: this rule denies what you choose below.
steward-coop-add-button = Add co-op rule

# Members.
steward-members-title = Members
steward-members-intro = Members in the order they joined. Members in the anonymous registry are shown by ID only.
steward-members-none = No members here.
steward-members-caption = Members, in the order they joined
steward-members-member = Member
steward-members-id = ID
steward-members-registry = Registry
steward-members-joined = Joined
steward-members-public = Public
steward-members-anonymous-registry = Anonymous
steward-members-anonymous = Anonymous member
steward-members-member-id = member { $id }
steward-members-link = Create a sign-in link for { $name }
steward-members-link-anonymous = Create a sign-in link for member { $id }
steward-link-title = Sign-in link
steward-link-once = This link is shown only once. It works once.
steward-link-intro = Give this link to { $who } yourself, privately: whoever opens it is signed in as them.
steward-link-works-until = Works until
steward-link-enrol = The member signs in with their co-op account next, which is then connected to their membership.
steward-link-back = Back to the members

# Datasets and licenses.
steward-datasets-title = Datasets and licenses
steward-datasets-intro = Aggregate datasets count members whose consent allows it; each license lets one third party receive a dataset's builds for a while.
steward-datasets-list = Datasets
steward-datasets-none = No dataset is defined yet.
steward-datasets-caption = Datasets, in the order they were defined
steward-datasets-name = Dataset
steward-datasets-purpose = Purpose
steward-datasets-categories = Data categories
steward-datasets-k-min = Smallest group shown
steward-datasets-noise = Noise
steward-datasets-no-noise = None: exact figures, small groups suppressed
steward-datasets-epsilon = ε { $epsilon } per build
steward-datasets-budget = Privacy budget
steward-datasets-budget-spent = { $spent } of { $budget } spent, { $left } left
steward-datasets-created = Defined
steward-datasets-more = More datasets
steward-datasets-api = Datasets and licenses are defined, and builds made, through the API.
steward-licenses-list = Licenses
steward-licenses-none = No license is given yet.
steward-licenses-caption = Licenses, in the order they were given
steward-licenses-license = License
steward-licenses-dataset = Dataset
steward-licenses-licensee = Licensee
steward-licenses-window-heading = Valid
steward-licenses-window = { $from } to { $until }
steward-licenses-data-life = Rows kept
steward-licenses-days = { $days ->
    [one] { $days_text } day
   *[other] { $days_text } days
}
steward-licenses-status = Status
steward-licenses-status-active = Active
steward-licenses-status-revoked = Revoked
steward-licenses-revoked-on = Revoked on { $date }
steward-licenses-latest = Latest build
steward-licenses-no-build = None yet
steward-licenses-build-kept = Built { $built }; its rows are kept until { $until }
steward-licenses-build-deleted = Built { $built }; its rows were deleted on { $until }
steward-licenses-revoke = Revoke the license of { $dataset } for { $licensee }
steward-licenses-nothing-to-do = None
steward-licenses-more = More licenses
steward-revoke-title = Revoke a license
steward-revoke-text = Revoking the license of { $dataset } for { $licensee } cannot be undone: the licensee is told, must delete the rows it received, and can fetch nothing more.

# Overdue deletion receipts.
steward-receipts-title = Overdue deletion receipts
steward-receipts-intro = When consent is withdrawn, each third party that received the data is told and must confirm that it deleted it. These have not confirmed in time, oldest first.
steward-receipts-grace-days = { $days ->
    [one] Third parties have { $days_text } day to confirm.
   *[other] Third parties have { $days_text } days to confirm.
}
steward-receipts-grace-hours = { $hours ->
    [one] Third parties have { $hours_text } hour to confirm.
   *[other] Third parties have { $hours_text } hours to confirm.
}
steward-receipts-none = No deletion receipt is overdue.
steward-receipts-caption = Withdrawals not confirmed in time
steward-receipts-event = Event
steward-receipts-kind = What
steward-receipts-consent-withdrawn = Consent withdrawn
steward-receipts-license-revoked = License revoked
steward-receipts-license-expired = License expired
steward-receipts-not-applicable = Not applicable
steward-receipts-third-party = Third party
steward-receipts-member = Member
steward-receipts-purpose = Purpose
steward-receipts-categories = Data categories
steward-receipts-sent = Sent
steward-receipts-delivery = Delivery
steward-receipts-pending = Not delivered yet
steward-receipts-delivered = Delivered
steward-receipts-failed = Delivery given up
steward-receipts-attempts = Attempts

# What was just done.
done-third-party-suspended = The third party is suspended: every request it makes is denied.
done-third-party-reinstated = The third party is reinstated.
done-persona-published = The persona is published.
done-coop-rule-added = The co-op rule is added. It applies from now on.
done-coop-rule-deleted = The co-op rule is deleted.
done-coop-rule-gone = That rule was already deleted.
done-license-revoked = The license is revoked. The licensee is told.
