# The pages' shared messages (English). Pages' own messages are in the
# other files of this folder.

skip-to-content = Skip to the content
nav-languages = Language
nav-main = Main
nav-home = Who may use what
nav-consent = My rules
nav-proxies = Proxies and personas
nav-why = Why?
nav-access = Access log
nav-connections = Connections
nav-data = My data
nav-receipts = Receipts
nav-stewards = Stewards
sign-out = Sign out
footer = datacoop: your co-op holds your data and shares it only as you allow.

# Dates and numbers.
date-long = { $day } { $month } { $year }
date-time = { $date }, { $time } UTC
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

# Signing in.
sign-in-title = Sign in
sign-in-left = You have left the co-op. Your consent has ended everywhere, and the third parties that received your data are told to delete it.
sign-in-ended = Your session has ended. Please sign in again.
sign-in-intro = Sign in to see and decide who may use your data, and for what.
sign-in-with-provider = Sign in with your co-op account
sign-in-first-time = Signing in for the first time? Use the sign-in link a steward gave you: it connects your co-op account to your membership.
sign-in-by-link = To sign in, open the sign-in link a steward of your co-op gave you. Each link works once, within 15 minutes.
sign-in-stewards = Stewards
sign-in-stewards-text = Stewards get a sign-in link from the broker's command line:
link-member = This link signs you in to your membership.
link-steward = This link signs you in as a steward of the co-op.
link-enrol = This link connects your membership to your co-op account. You will sign in with that account next.
link-sign-in = Sign in
link-continue = Continue to sign-in

# Errors.
error-back-home = Back to the start
error-not-found = Page not found
error-not-found-text = There is no page at this address.
error-forbidden = Not for this account
error-forbidden-text = This page is not open to the account you signed in with.
error-link-gone = This link no longer works
error-link-gone-text = Sign-in links work once, within 15 minutes. Ask a steward for a new one.
error-csrf = The form has expired
error-csrf-text = This form was not sent from a page of your current session. Go back, reload the page and try again.
error-bad-request = Something is wrong with this request
error-bad-request-text = The form sent something this page does not accept.
error-conflict = That cannot be done now
error-conflict-text = It contradicts what is stored. Reload the page to see the current state.
error-too-many = Too many attempts
error-too-many-text = Please wait a minute before trying again.
error-unavailable = Temporarily unavailable
error-unavailable-text = The co-op's systems cannot answer right now. Please try again in a moment.
error-internal = Something went wrong
error-internal-text = This is our fault. Please try again later.
error-oidc-refused = The sign-in did not complete: the identity provider's answer was refused. Please start again.
error-oidc-no-flow = This sign-in was not started in this browser, or took too long. Please start again.
error-oidc-linked-elsewhere = That co-op account is already connected to another membership. Ask a steward for help.

# Rules in words (web/words.rs).
who-any = Any third party the co-op approved
who-class-nonprofit = Non-profit organisations
who-class-academic = Academic researchers
who-class-public_body = Public bodies
who-class-commercial = Companies
list-and = and
categories-phrase = your { $list } data
categories-all = all your data
term-any-purpose = any purpose
rule-allow = { $who } may use { $categories } for { $purposes }{ $action }{ $window }.
rule-deny = { $who } may not use { $categories } for { $purposes }{ $action }{ $window }.
rule-from = , from { $date }
rule-until = , until { $date }
rule-only-access = , one member at a time
rule-only-aggregate = , counted in statistics only
scope = { $categories } for { $purposes }

# Members' pages: who may use what.
home-title = Who may use what
home-intro = Hello { $name }. This is what currently applies to your data, group by group, and who decided it.
home-no-name = there
home-nothing = No rules apply to your data yet, so no third party may use it.
home-easy-path = Do not want to decide everything yourself? Adopt a persona or hand your decisions to a member you trust.
home-easy-path-link = Proxies and personas
home-ask-why = Ask how a particular request would be decided
group-all = All your data
source-you = you
source-decided-by = Decided by { $who }
source-coop-fixed = Set by the co-op (no consent can override this)
who-coop = the co-op
proxy-anonymous = a member who keeps their name private
chain-intro = You handed this on:
chain-hop = to { $who }: { $scope }
tag-allowed = Allowed
tag-denied = Not allowed
tag-fixed = Fixed

# My rules.
consent-title = My rules
consent-intro = Your own rules decide who may use which of your data, and for what. Anything no rule allows stays closed.
consent-mine = Your rules
consent-none = You have no rules of your own.
consent-remove = Remove
consent-remove-label = Remove rule { $n }
consent-coop = The co-op's rules
consent-coop-intro = The co-op's rules apply to every member and no consent can override them.
consent-coop-none = The co-op has no rules of its own.
consent-add = Add a rule
consent-field-effect = Do you allow or forbid it?
consent-effect-allow = Allow
consent-effect-deny = Forbid
consent-field-requester = Who
consent-choose = Choose…
consent-field-categories = Which of your data
consent-field-purposes = For what
consent-field-until = Until (optional)
consent-until-hint = The rule ends as this day begins. Leave it empty to keep the rule until you remove it.
consent-preview = Check the rule
consent-error-effect = Choose whether you allow or forbid it.
consent-error-requester = Choose who the rule is about.
consent-error-data-categories = Choose at least one kind of data.
consent-error-purposes = Choose at least one purpose.
consent-error-expires-at = Give a date in the future, or leave it empty.
preview-title = Check your rule
preview-intro = This is what the rule will do:
preview-meaning = Nothing changes until you save it. You can remove it at any time, and it takes effect at once: a third party that got data under it is told when it no longer may use it.
preview-save = Save this rule
preview-cancel = Change it
done-rule-added = Your rule is saved and already in force.
done-rule-removed = The rule is removed. Third parties that relied on it are told.

# Proxies and personas.
proxies-title = Proxies and personas
proxies-intro = You do not have to decide everything yourself. Adopt a persona the co-op publishes, or hand some or all of your decisions to a member you trust. Your own rules still come first, the co-op's rules still apply, and you can take any of it back at once.
proxies-yours = Who decides for you
proxies-none = Nobody: you decide everything yourself.
proxies-handed = Handed to { $who }:
proxies-revoke = Take back
proxies-revoke-label = Take back what you handed to { $who }
proxies-personas = Personas
proxies-personas-intro = A persona is a set of rules the co-op publishes for members who share a view. Adopting one hands all your decisions to it; your own rules still come first.
proxies-personas-none = The co-op has not published any personas yet.
proxies-persona-rules = Its rules:
proxies-adopted = You follow this persona
proxies-adopt = Adopt { $name }
proxies-member = Hand decisions to a member
proxies-member-intro = A member who accepts delegations can decide for you. They see how many members rely on them, and your name only if your name is public.
proxies-field-proxy = The member's id
proxies-field-proxy-hint = They find it on their own Proxies page, starting with mbr_.
proxies-field-scope = Which of your data they decide about
proxies-field-scope-hint = Choose none to hand over all of it.
proxies-delegate = Hand over these decisions
proxies-as-proxy = Deciding for others
proxies-relying = { $count ->
    [0] No member relies on you.
    [one] One member relies on you.
   *[other] { $count_text } members rely on you.
}
proxies-public-delegators = Members with public names who rely on you:
proxies-accepting-on = You accept delegations: other members can hand their decisions to you.
proxies-accepting-off = You do not accept delegations.
proxies-my-id = Your member id, to give to those who want to rely on you: { $id }
proxies-start-accepting = Accept delegations
proxies-stop-accepting = Stop accepting delegations
proxies-error-self = You cannot hand decisions to yourself.
proxies-error-not-accepting = That member does not accept delegations.
proxies-error-unknown = There is no member with that id in the co-op, or that persona is not published.
proxies-error-same = You have already handed exactly these decisions there.
proxies-error-limit = You have handed over as many delegations as a member may hold. Take one back first.
done-persona-adopted = You now follow the persona. It decides for you from now on.
done-delegated = Your decisions are handed over. You can take them back at any time.
done-delegation-revoked = Taken back: you decide this yourself again, from now on.
done-accepting-on = You now accept delegations.
done-accepting-off = You no longer accept delegations. Members who relied on you decide for themselves again.

# Why?
why-title = Why?
why-intro = Ask how a request would be decided right now: which third party, which of your data, for what. Nothing is shared by asking.
why-field-requester = Which third party
why-field-categories = Which of your data
why-field-purpose = For what
why-ask = Ask
why-answer = The answer
why-you = You
why-by-you = Decided by your own rules.
why-by-proxy = Decided by a member you handed this to.
why-by-persona = Decided by a persona you follow.
why-by-coop = Decided by the co-op's rules.
why-chain = How it got there:
why-error-requester = Choose a third party.
why-error-categories = Choose at least one kind of data.
why-error-purpose = Choose a purpose.
reason-requester-inactive = The third party is suspended or not approved.
reason-member-inactive = Your membership is not active.
reason-coop-policy = A rule of the co-op forbids it, whatever anyone consents to.
reason-allowed = A rule allows it.
reason-denied-by-rule = A rule forbids it.
reason-delegation-cycle = The delegations lead in a circle, so nothing is allowed.
reason-delegation-too-deep = The chain of delegations is too long, so nothing is allowed.
reason-no-consent = No rule allows it, so it stays closed.

# Access log.
access-title = Access log
access-intro = Every time a third party asked for your data, or counted you in a dataset, with what it got. Withdrawals and deletion receipts show once consent ended.
access-field-third-party = Third party
access-everyone = All third parties
access-field-from = From
access-field-to = To
access-filter = Show
access-none = Nothing to show.
access-caption = Accesses, newest first
access-col-when = When
access-col-who = Who
access-col-what = What, and for what
access-col-outcome = Outcome
access-build = counted in a dataset
access-withdrawn = Withdrawn { $date }; deletion not yet confirmed
access-deleted = Withdrawn; deletion confirmed { $date }
access-older = Older entries

# Connections.
connections-title = Connections
connections-intro = Third parties you are connected to, and the pseudonym each knows you by. Each gets a different one, so they cannot match you up between them.
connections-none = You are not connected to any third party.
connections-caption = Your connections
connections-col-who = Third party
connections-col-pseudonym = Knows you as
connections-col-action = Action
connections-end = Cut off { $name }
done-connection-ended = Cut off. Everything it received from you is withdrawn, and it is told to delete it.

# My data, export, leaving.
data-title = My data
data-intro = What the co-op holds for you.
data-none = The co-op holds no data values for you.
data-export = Export everything
data-export-intro = One JSON file with your profile, data, rules, delegations, connections, withdrawals, the datasets you were counted in and your whole access log.
data-export-button = Download my export
data-leave = Leave the co-op
data-leave-intro = You can leave at any time. The next page says exactly what is erased and what is kept.
data-leave-link = Leave the co-op…
data-sessions = Signed-in devices
sign-out-everywhere = Sign out everywhere
leave-title = Leave the co-op
leave-warning = Leaving cannot be undone. Your consent ends at once for every third party.
leave-erased = Erased now
leave-erased-name = Your name.
leave-erased-data = Your data values.
leave-erased-rules = Your rules and the decisions you handed to others; members who handed theirs to you decide for themselves again.
leave-erased-connections = Your connections and pseudonyms; every third party that received data is told to delete it.
leave-erased-sign-in = Your tokens and sign-ins, on every device.
leave-kept = Kept
leave-kept-log = The verifiable log's entries (without your name), so the co-op can still prove what happened.
leave-kept-withdrawals = The withdrawals sent on your behalf and their deletion receipts.
leave-kept-builds = Aggregate figures already built, which never name anyone.
leave-export-first = You may want your export first:
leave-confirm = Leave the co-op now
leave-cancel = Stay

# Receipts.
receipts-title = Receipts
receipts-intro = Every change to your consent and every access is an entry of the co-op's verifiable, append-only log. These are yours.
receipts-verify = Verify my entries
receipts-cli = For a check that does not trust the co-op's server, run
receipts-none = There are no entries about you yet.
receipts-caption = Your entries, newest first
receipts-col-index = Entry
receipts-col-what = What
receipts-col-when = When
receipts-verified = Verified: { $included } of your entries are in the signed checkpoint of { $size } entries ({ $newer } newer ones will be in the next).
receipts-failed = Verification failed for entries { $entries }. Please tell the co-op's stewards.
kind-member-joined = You joined
kind-member-updated = Profile changed
kind-member-left = Left the co-op
kind-rules-created = Rule added
kind-rule-deleted = Rule removed
kind-delegation-created = Decisions handed over
kind-delegation-revoked = Decisions taken back
kind-connection-ended = Third party cut off
kind-consent-withdrawn = Consent withdrawn
kind-deletion-confirmed = Deletion confirmed
kind-dataset-built = Counted in a dataset
