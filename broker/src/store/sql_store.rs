//! The one implementation of `Store`, instantiated per database over the
//! one SQL text (`sql.rs`), that database's dialect (`dialect.rs`) and its
//! embedded migrations.
//!
//! Writes that change what decisions read go through `Store::apply`: the
//! change runs in a task of the store's own (tracked, so shutdown and
//! `settle` wait for it), holds the mirror's writer turn when there is a
//! mirror, stages its statements and its owners' version bumps in one
//! transaction, commits, and shows the committed effects to the mirror,
//! all whether or not the request that asked for it is still there.

macro_rules! sql_store {
    ($store:ident, $db:ty, $dialect:ident, $migrator:expr) => {
        use $crate::domain::rule::{Owner, Rule};
        use $crate::store::mirror::Effect;
        use $crate::store::rows::{
            AccessRow, DatasetRow, DelegationRow, EventRow, FactsRow, FoldedCall, LicenseRow, MemberRow, OutgoingRow,
            PersonaRow, RecipientRow, RuleColumns, RuleRow, ThirdPartyRow, VersionRow,
        };
        use $crate::store::sql;
        use $crate::store::{
            AccessRecord, Applied, Bulk, Change, DecisionFacts, OwnerState, Seq, Staged,
            StoreError, StoreResult,
        };

        /// A connection inside a transaction (or a savepoint of one).
        type Tx = <$db as sqlx::Database>::Connection;

        impl $store {
            /// Inserts rules inside `tx`.
            async fn insert_rules(tx: &mut Tx, rules: &[Rule]) -> StoreResult<()> {
                for rule in rules {
                    let columns = RuleColumns::of(&rule.spec);
                    sqlx::query(sql::INSERT_RULE)
                        .bind(rule.id.as_str())
                        .bind(rule.owner.kind())
                        .bind(rule.owner.id())
                        .bind(columns.effect)
                        .bind(columns.action)
                        .bind(columns.requester_kind)
                        .bind(columns.requester_value)
                        .bind(columns.data_categories)
                        .bind(columns.purposes)
                        .bind(rule.spec.not_before)
                        .bind(rule.spec.expires_at)
                        .bind(rule.created_at)
                        .bind(rule.cedar.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_write)?;
                }
                Ok(())
            }

            /// Bumps `owner`'s policy version in `tx` and records the
            /// version the database now holds. Taken first in a change, it
            /// also serializes changes of one owner (PostgreSQL locks the
            /// row until commit).
            async fn bump(tx: &mut Tx, owner: &Owner, effects: &mut Vec<Effect>) -> StoreResult<()> {
                let version: i64 = sqlx::query_scalar(sql::BUMP_POLICY_VERSION)
                    .bind(owner.kind())
                    .bind(owner.id())
                    .fetch_one(&mut *tx)
                    .await?;
                effects.push(Effect::Version { owner: owner.clone(), version });
                Ok(())
            }

            /// `OverLimit` unless `held + adding <= limit`.
            fn within(what: &'static str, held: i64, adding: usize, limit: u64) -> StoreResult<()> {
                let total = u64::try_from(held)
                    .unwrap_or(0)
                    .saturating_add(u64::try_from(adding).unwrap_or(u64::MAX));
                if total > limit {
                    return Err(StoreError::OverLimit { what, limit });
                }
                Ok(())
            }

            /// Takes the member's turn (PostgreSQL: their row's lock, so a
            /// concurrent leave commits wholly before or after) and refuses
            /// with `MemberGone` when they are not in the co-op.
            async fn member_in_coop(tx: &mut Tx, member: &$crate::domain::MemberId) -> StoreResult<()> {
                if let Some(statement) = $dialect::LOCK_MEMBER {
                    sqlx::query(statement).bind(member.as_str()).execute(&mut *tx).await?;
                }
                if Self::count(tx, sql::MEMBER_IN_COOP, &[member.as_str()]).await? == 0 {
                    return Err(StoreError::MemberGone);
                }
                Ok(())
            }

            /// Writes one change of the web pages' sign-in.
            async fn stage_web(tx: &mut Tx, change: $crate::store::web::WebChange) -> StoreResult<Applied> {
                use $crate::store::web::{Redeemed, WebChange};
                match change {
                    WebChange::IssueLink(link) => {
                        if let Some(member) = &link.member {
                            Self::member_in_coop(tx, member).await?;
                        }
                        sqlx::query(sql::FORGET_EXPIRED_LINKS).bind(link.created_at).execute(&mut *tx).await?;
                        sqlx::query(sql::INSERT_SIGN_IN_LINK)
                            .bind(link.token.as_bytes())
                            .bind(link.member.as_ref().map($crate::domain::MemberId::as_str))
                            .bind(link.created_at)
                            .bind(link.expires_at)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        Ok(Applied::Done)
                    }
                    WebChange::RedeemLink { token, at, then } => {
                        let redeemed: Option<Option<String>> = sqlx::query_scalar(sql::REDEEM_SIGN_IN_LINK)
                            .bind(token.as_bytes())
                            .bind(at)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(member) = redeemed else {
                            return Ok(Applied::Missing);
                        };
                        let named = match &then {
                            Redeemed::Session(session) => session.holder.member.as_ref(),
                            Redeemed::Flow(flow) => flow.enrol.as_ref(),
                        };
                        if member.as_deref() != named.map($crate::domain::MemberId::as_str) {
                            return Err(StoreError::Corrupt("a sign-in link redeemed for another holder".into()));
                        }
                        match then {
                            Redeemed::Session(session) => Self::insert_session(tx, &session).await?,
                            Redeemed::Flow(flow) => Self::insert_flow(tx, &flow).await?,
                        }
                        Ok(Applied::Done)
                    }
                    WebChange::BeginFlow(flow) => {
                        Self::insert_flow(tx, &flow).await?;
                        Ok(Applied::Done)
                    }
                    WebChange::FinishFlow { flow, link, session } => {
                        let ended = sqlx::query(sql::END_OIDC_FLOW)
                            .bind(flow.as_bytes())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if ended == 0 {
                            return Ok(Applied::Missing);
                        }
                        if let (Some(identity), Some(member)) = (link, &session.holder.member) {
                            Self::member_in_coop(tx, member).await?;
                            sqlx::query(sql::UNLINK_IDENTITY)
                                .bind(member.as_str())
                                .bind(identity.issuer.as_str())
                                .execute(&mut *tx)
                                .await?;
                            sqlx::query(sql::LINK_IDENTITY)
                                .bind(identity.issuer.as_str())
                                .bind(identity.subject.as_str())
                                .bind(member.as_str())
                                .bind(session.created_at)
                                .execute(&mut *tx)
                                .await
                                .map_err(StoreError::from_write)?;
                        }
                        Self::insert_session(tx, &session).await?;
                        Ok(Applied::Done)
                    }
                    WebChange::Touch { id, at } => {
                        sqlx::query(sql::TOUCH_WEB_SESSION).bind(id.as_bytes()).bind(at).execute(&mut *tx).await?;
                        Ok(Applied::Done)
                    }
                    WebChange::End { id } => {
                        let ended = sqlx::query(sql::END_WEB_SESSION).bind(id.as_bytes()).execute(&mut *tx).await?;
                        Ok(if ended.rows_affected() == 0 { Applied::Missing } else { Applied::Done })
                    }
                    WebChange::EndAll(holder) => {
                        if let Some(member) = &holder.member {
                            sqlx::query(sql::END_MEMBER_SESSIONS).bind(member.as_str()).execute(&mut *tx).await?;
                        }
                        if holder.steward {
                            sqlx::query(sql::END_STEWARD_SESSIONS).execute(&mut *tx).await?;
                        }
                        Ok(Applied::Done)
                    }
                }
            }

            async fn insert_session(tx: &mut Tx, session: &$crate::store::web::WebSession) -> StoreResult<()> {
                if let Some(member) = &session.holder.member {
                    Self::member_in_coop(tx, member).await?;
                }
                sqlx::query(sql::FORGET_ENDED_SESSIONS).bind(session.created_at).execute(&mut *tx).await?;
                sqlx::query(sql::INSERT_WEB_SESSION)
                    .bind(session.id.as_bytes())
                    .bind(session.holder.member.as_ref().map($crate::domain::MemberId::as_str))
                    .bind(session.holder.steward)
                    .bind(session.csrf.as_str())
                    .bind(session.created_at)
                    .bind(session.seen_at)
                    .bind(session.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                Ok(())
            }

            async fn insert_flow(tx: &mut Tx, flow: &$crate::store::web::OidcFlow) -> StoreResult<()> {
                sqlx::query(sql::FORGET_EXPIRED_FLOWS).bind(flow.expires_at - $crate::store::web::FLOW_LIFETIME).execute(&mut *tx).await?;
                sqlx::query(sql::INSERT_OIDC_FLOW)
                    .bind(flow.id.as_bytes())
                    .bind(flow.state.as_str())
                    .bind(flow.nonce.as_str())
                    .bind(flow.pkce_verifier.as_str())
                    .bind(flow.enrol.as_ref().map($crate::domain::MemberId::as_str))
                    .bind(flow.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                Ok(())
            }

            async fn count(tx: &mut Tx, statement: &'static str, binds: &[&str]) -> StoreResult<i64> {
                let mut query = sqlx::query_scalar::<_, i64>(statement);
                for bind in binds {
                    query = query.bind(*bind);
                }
                Ok(query.fetch_one(&mut *tx).await?)
            }

            /// Queues a recheck of every recipient whose decisions
            /// `owner` reaches, in the savepoint of the change to it.
            async fn recheck(tx: &mut Tx, owner: &Owner) -> StoreResult<()> {
                sqlx::query(sql::INSERT_RECHECK)
                    .bind(owner.kind())
                    .bind(owner.id())
                    .bind($crate::clock::Clock::now(&$crate::clock::SystemClock))
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }

            /// Folds calls into `recipients`: each allowed category.
            async fn fold_calls(tx: &mut Tx, calls: &[FoldedCall]) -> StoreResult<()> {
                for call in calls {
                    for category in call.allowed()? {
                        sqlx::query(sql::UPSERT_RECIPIENT)
                            .bind(call.member_id.as_str())
                            .bind(call.third_party_id.as_str())
                            .bind(call.purpose.as_str())
                            .bind(category.as_str())
                            .bind(call.seq)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Ok(())
            }

            /// Every category `member` gave (to `third_party`, or to
            /// anyone) and has not withdrawn, as withdrawals to announce,
            /// counting the calls the fold has not read yet.
            async fn withdraw_everything(
                tx: &mut Tx,
                member: &$crate::domain::MemberId,
                third_party: Option<&$crate::domain::ThirdPartyId>,
                staged: &mut Staged,
            ) -> StoreResult<()> {
                let through: i64 = sqlx::query_scalar(sql::FOLD_THROUGH)
                    .fetch_one(&mut *tx)
                    .await?;
                let calls = sqlx::query_as::<_, FoldedCall>(sql::MEMBER_CALLS_AFTER)
                    .bind(member.as_str())
                    .bind(through)
                    .fetch_all(&mut *tx)
                    .await?;
                Self::fold_calls(tx, &calls).await?;
                let recipients = sqlx::query_as::<_, RecipientRow>(sql::RECIPIENTS_OF)
                    .bind(member.as_str())
                    .bind(third_party.map($crate::domain::ThirdPartyId::as_str))
                    .fetch_all(&mut *tx)
                    .await?;
                staged.withdrawals.extend($crate::store::withdrawals(
                    recipients.into_iter().map(RecipientRow::into_domain),
                ));
                Ok(())
            }

            /// Announces `withdrawals`: marks each category withdrawn
            /// (skipping what an earlier withdrawal already covered) and
            /// writes one event into the outbox per withdrawal left, with
            /// its log entry at index `first` on; returns the entries. A
            /// few multi-row statements whatever the number.
            async fn record_withdrawals(
                tx: &mut Tx,
                withdrawals: &[$crate::store::Withdrawal],
                first: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<Vec<$crate::audit::entry::Entry>> {
                use $crate::store::BULK_ROWS;
                type Key = (String, String, String, String);
                let rows: Vec<(&$crate::store::Withdrawal, &str, i64)> = withdrawals
                    .iter()
                    .flat_map(|withdrawal| {
                        withdrawal
                            .categories
                            .iter()
                            .map(move |(category, through)| (withdrawal, category.as_str(), *through))
                    })
                    .collect();
                let mut marked: std::collections::HashSet<Key> = std::collections::HashSet::new();
                for chunk in rows.chunks(BULK_ROWS) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "WITH v (member_id, third_party_id, purpose, category, through) AS (",
                    );
                    query.push_values(chunk, |mut row, (withdrawal, category, through)| {
                        row.push_bind(withdrawal.member.as_str())
                            .push_bind(withdrawal.third_party.as_str())
                            .push_bind(withdrawal.purpose.as_str())
                            .push_bind(*category)
                            .push_bind(*through);
                    });
                    query.push(sql::WITHDRAW_RECIPIENTS_FROM_V);
                    let rows: Vec<Key> = query.build_query_as().fetch_all(&mut *tx).await?;
                    marked.extend(rows);
                }
                let mut entries = Vec::new();
                let mut events = Vec::new();
                for withdrawal in withdrawals {
                    let categories: Vec<String> = withdrawal
                        .categories
                        .iter()
                        .filter(|(category, _)| {
                            marked.contains(&(
                                withdrawal.member.to_string(),
                                withdrawal.third_party.to_string(),
                                withdrawal.purpose.clone(),
                                category.clone(),
                            ))
                        })
                        .map(|(category, _)| category.clone())
                        .collect();
                    if categories.is_empty() {
                        continue;
                    }
                    let index = first
                        + i64::try_from(entries.len())
                            .map_err(|_| StoreError::Corrupt("too many withdrawals".into()))?;
                    let id = $crate::domain::EventId::generate();
                    let body = serde_json::to_string(&datacoop_wire::WithdrawalEvent {
                        kind: datacoop_wire::EventType::ConsentWithdrawn,
                        timestamp: at,
                        data: datacoop_wire::WithdrawalData {
                            subject: withdrawal.subject.clone(),
                            categories: categories.clone(),
                            purpose: withdrawal.purpose.clone(),
                            log_index: u64::try_from(index).unwrap_or_default(),
                        },
                    })
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    entries.push($crate::audit::entry::Entry::withdrawn(
                        &id, withdrawal, &categories, at,
                    )?);
                    let listed = serde_json::to_string(&categories).unwrap_or_else(|_| "[]".into());
                    events.push((id, withdrawal, listed, body, index));
                }
                for chunk in events.chunks(BULK_ROWS / 2) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(sql::INSERT_EVENTS);
                    query.push_values(chunk, |mut row, (id, withdrawal, listed, body, index)| {
                        row.push_bind(id.as_str())
                            .push_bind(datacoop_wire::EventType::ConsentWithdrawn.as_str())
                            .push_bind(withdrawal.third_party.as_str())
                            .push_bind(withdrawal.member.as_str())
                            .push_bind(withdrawal.purpose.as_str())
                            .push_bind(listed.as_str())
                            .push_bind(body.as_str())
                            .push_bind(*index)
                            .push_bind(at)
                            .push_bind("pending")
                            .push_bind(at);
                    });
                    query.build().execute(&mut *tx).await?;
                }
                Ok(entries)
            }

            /// Puts license events in the outbox, each with the index of
            /// the entry that announces it: the change's own entry (at
            /// `index`) for position 0 when it has one (`own` = 1), else
            /// the staged entry at that position.
            async fn record_license_events(
                tx: &mut Tx,
                events: &[$crate::store::LicenseEvent],
                index: i64,
                own: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                for event in events {
                    let position = i64::try_from(event.entry)
                        .map_err(|_| StoreError::Corrupt("too many entries".into()))?;
                    let log_index = if own == 1 && position == 0 { index } else { index + own + position };
                    let id = $crate::domain::EventId::generate();
                    let body = serde_json::to_string(&datacoop_wire::LicenseEvent {
                        kind: event.kind,
                        timestamp: at,
                        data: datacoop_wire::LicenseEventData {
                            license: event.license.clone(),
                            dataset: event.dataset.clone(),
                            log_index: u64::try_from(log_index).unwrap_or_default(),
                        },
                    })
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    let mut query = sqlx::QueryBuilder::<$db>::new(sql::INSERT_EVENTS);
                    query.push_values([()], |mut row, ()| {
                        row.push_bind(id.as_str())
                            .push_bind(event.kind.as_str())
                            .push_bind(event.licensee.as_str())
                            .push_bind("")
                            .push_bind("")
                            .push_bind("[]")
                            .push_bind(body.as_str())
                            .push_bind(log_index)
                            .push_bind(at)
                            .push_bind("pending")
                            .push_bind(at);
                    });
                    query.build().execute(&mut *tx).await?;
                }
                Ok(())
            }

            /// Writes third parties' calls into `statements`: those about
            /// members into `access_log`, those about subjects that stand
            /// for no member in the co-op into `unmatched_access` (logged
            /// like any other, so every call costs the same); one
            /// multi-row insert per table and `BULK_ROWS` calls.
            async fn push_calls(
                tx: &mut Tx,
                statements: &mut Statements,
                known: &[&AccessRecord],
                unmatched: &[&$crate::store::UnmatchedAccess],
            ) -> StoreResult<()> {
                let known: Vec<CallRow<'_>> = known
                    .iter()
                    .map(|call| CallRow {
                        ids: [call.member.as_str(), call.third_party.as_str()],
                        purpose: &call.purpose,
                        action: call.action,
                        decision: call.decision,
                        categories: &call.categories,
                        at: call.at,
                    })
                    .collect();
                let unmatched: Vec<CallRow<'_>> = unmatched
                    .iter()
                    .map(|call| CallRow {
                        ids: [call.third_party.as_str(), call.subject.as_str()],
                        purpose: &call.purpose,
                        action: call.action,
                        decision: call.decision,
                        categories: &call.categories,
                        at: call.at,
                    })
                    .collect();
                let tables = [
                    ("INSERT INTO access_log (member_id, third_party_id, purpose, action, decision, categories, at) ", known),
                    ("INSERT INTO unmatched_access (third_party_id, subject, purpose, action, decision, categories, at) ", unmatched),
                ];
                for (insert, rows) in &tables {
                    for chunk in rows.chunks($crate::store::BULK_ROWS) {
                        statements.next().push(insert).push_values(chunk, |mut row, call| {
                            let [first, second] = call.ids;
                            row.push_bind(first)
                                .push_bind(second)
                                .push_bind(call.purpose)
                                .push_bind($crate::store::rows::action_text(call.action))
                                .push_bind($crate::store::rows::verdict_text(call.decision))
                                .push_bind($crate::store::rows::logged_categories(call.categories))
                                .push_bind(call.at);
                        });
                        statements.end(tx).await?;
                    }
                }
                Ok(())
            }

            /// The log tree's stored hashes at `indexes` (those there are),
            /// read through `executor`.
            async fn read_hashes<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                indexes: &[i64],
            ) -> StoreResult<Vec<(u64, $crate::audit::tree::Hash)>> {
                // `IN ()` is an error on PostgreSQL (an empty log has no
                // peaks to read).
                if indexes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query =
                    sqlx::QueryBuilder::<$db>::new("SELECT idx, hash FROM log_hashes WHERE idx IN (");
                let mut list = query.separated(", ");
                for index in indexes {
                    list.push_bind(*index);
                }
                list.push_unseparated(")");
                let rows: Vec<(i64, Vec<u8>)> = query.build_query_as().fetch_all(executor).await?;
                rows.into_iter()
                    .map(|(index, hash)| {
                        let index = u64::try_from(index)
                            .map_err(|_| StoreError::Corrupt("negative log hash index".into()))?;
                        let hash = hash.try_into().map_err(|_| {
                            StoreError::Corrupt("a stored log hash is not 32 bytes".into())
                        })?;
                        Ok((index, $crate::audit::tree::Hash(hash)))
                    })
                    .collect()
            }

            /// Writes `entries` as log entries `first`, `first + 1`, … in
            /// `tx`, in the transaction of the changes they record, with
            /// the tree's new stored hashes: `push_entries`, sent at once.
            async fn append_entries(
                tx: &mut Tx,
                first: i64,
                entries: &[$crate::audit::entry::Entry],
                known: &mut std::collections::HashMap<u64, $crate::audit::tree::Hash>,
            ) -> StoreResult<()> {
                let mut statements = Statements::new();
                Self::push_entries(tx, &mut statements, first, entries, known).await?;
                statements.send(tx).await
            }

            /// Writes `entries` as log entries `first`, `first + 1`, …
            /// into `statements`, with the tree's new stored hashes (each
            /// leaf and every subtree it completes), computed from
            /// `known`: the peaks of the tree of `first` leaves are read
            /// from the database if missing (after sending what
            /// `statements` holds), the rest is written here. A few
            /// multi-row inserts in all.
            async fn push_entries(
                tx: &mut Tx,
                statements: &mut Statements,
                first: i64,
                entries: &[$crate::audit::entry::Entry],
                known: &mut std::collections::HashMap<u64, $crate::audit::tree::Hash>,
            ) -> StoreResult<()> {
                use $crate::audit::tree;
                use $crate::store::BULK_ROWS;
                let corrupt = |error: tree::TreeError| StoreError::Corrupt(error.to_string());
                let out_of_range = || StoreError::Corrupt("log index out of range".into());
                let start = u64::try_from(first).map_err(|_| out_of_range())?;
                let missing: Vec<i64> = tree::peaks(start)
                    .map_err(corrupt)?
                    .into_iter()
                    .filter(|peak| !known.contains_key(peak))
                    .map(i64::try_from)
                    .collect::<Result<_, _>>()
                    .map_err(|_| out_of_range())?;
                if !missing.is_empty() {
                    statements.send(tx).await?;
                    known.extend(Self::read_hashes(&mut *tx, &missing).await?);
                }
                let mut hashes = Vec::with_capacity(entries.len() * 2);
                let mut subjects = Vec::new();
                for (index, entry) in (start..).zip(entries) {
                    let new = tree::append(index, tree::leaf_hash(&entry.body), known)
                        .map_err(corrupt)?;
                    for (stored, hash) in &new {
                        hashes.push((i64::try_from(*stored).map_err(|_| out_of_range())?, hash.0));
                    }
                    known.extend(new);
                    let index = i64::try_from(index).map_err(|_| out_of_range())?;
                    subjects.extend(entry.about.iter().map(|member| (member.as_str(), index)));
                }
                for (offset, chunk) in entries.chunks(BULK_ROWS).enumerate() {
                    let from = first + i64::try_from(offset * BULK_ROWS).map_err(|_| out_of_range())?;
                    statements
                        .next()
                        .push("INSERT INTO log_entries (idx, kind, body, at) ")
                        .push_values((from..).zip(chunk), |mut row, (index, entry)| {
                            row.push_bind(index)
                                .push_bind(entry.kind)
                                .push_bind(entry.body.as_slice())
                                .push_bind(entry.at);
                        });
                    statements.end(tx).await?;
                }
                for rows in subjects.chunks(BULK_ROWS) {
                    statements
                        .next()
                        .push("INSERT INTO log_subjects (member_id, idx) ")
                        .push_values(rows, |mut row, (member, index)| {
                            row.push_bind(*member).push_bind(*index);
                        });
                    statements.end(tx).await?;
                }
                for rows in hashes.chunks(BULK_ROWS) {
                    statements
                        .next()
                        .push("INSERT INTO log_hashes (idx, hash) ")
                        .push_values(rows, |mut row, (index, hash)| {
                            row.push_bind(*index).push_bind(hash.as_slice());
                        });
                    statements.end(tx).await?;
                }
                Ok(())
            }

            /// Runs a write in the store's own task: it completes even when
            /// the caller's future is dropped, and `settle`/`close` wait
            /// for it.
            async fn in_own_task<T: Send + 'static>(
                &self,
                write: impl std::future::Future<Output = StoreResult<T>> + Send + 'static,
            ) -> StoreResult<T> {
                self.writes
                    .spawn(write)
                    .await
                    .map_err(|_| StoreError::Interrupted)?
            }

            /// The body of `apply`, run in the store's task: queues the
            /// change, then either gets its outcome (another change's turn
            /// committed it) or gets the turn and commits every queued
            /// change itself (`group`); answers once the change's batch is
            /// durable. A change committed by another's turn does not wait
            /// for a turn of its own: were it to, every change would queue
            /// behind turns with nothing left to commit, and batches would
            /// shrink to one change each.
            async fn apply_now(self, change: Change) -> StoreResult<$crate::store::Committed> {
                let mut outcome = self.group.enqueue(change);
                loop {
                    tokio::select! {
                        biased;
                        answered = &mut outcome => {
                            return answered.map_err(|_| StoreError::Interrupted)?;
                        }
                        mut turn = self.group.turn() => {
                            let batch = self.group.take();
                            if !batch.is_empty() {
                                self.commit_batch(batch, &mut turn).await;
                            }
                        }
                    }
                }
            }

            /// Commits `batch` in one transaction, then shows the mirror
            /// what committed and answers every change. Each change is in
            /// a savepoint of its own with its log entry, except a run of
            /// third parties' calls, which is written with a few multi-row
            /// inserts.
            async fn commit_batch(
                &self,
                batch: Vec<$crate::store::group::Job>,
                peaks: &mut Option<$crate::store::group::Peaks>,
            ) {
                // A replicated mirror is not written here: it applies the
                // feed, as every other replica's does.
                let _turn = match self.mirror.as_deref().filter(|mirror| !mirror.is_replicated()) {
                    Some(mirror) => Some(mirror.writer().await),
                    None => None,
                };
                let mut state = BatchState {
                    size: 0,
                    known: std::collections::HashMap::new(),
                    outcomes: Vec::with_capacity(batch.len()),
                    effects: Vec::new(),
                    erasing: false,
                };
                let committed = async {
                    let mut tx = self.writer.begin().await?;
                    let mut statements = Statements::new();
                    let head: i64 = sqlx::query_scalar($dialect::LOG_HEAD)
                        .fetch_one(&mut *tx)
                        .await?;
                    state.size = head;
                    if let Some((_, known)) = peaks.take().filter(|(size, _)| *size == head) {
                        state.known = known;
                    }
                    let is_call = |job: &$crate::store::group::Job| {
                        matches!(job.change, Change::Access(_) | Change::UnmatchedAccess(_))
                    };
                    let mut jobs = batch.into_iter().peekable();
                    while let Some(job) = jobs.next() {
                        if !is_call(&job) {
                            statements.send(&mut tx).await?;
                            self.commit_one(&mut tx, job, &mut state).await?;
                            continue;
                        }
                        let mut run = vec![job];
                        while let Some(next) = jobs.next_if(|job| is_call(job)) {
                            run.push(next);
                        }
                        if run.len() > 1 {
                            // No savepoint: nothing in a call can be refused
                            // (no unique or foreign key but the log's index,
                            // which the head's lock makes ours), so a failure
                            // here is the database's, and fails the batch.
                            let entries = Self::stage_calls(
                                &mut tx,
                                &mut statements,
                                &run,
                                state.size,
                                &mut state.known,
                            )
                            .await?;
                            for (job, index) in run.into_iter().zip(state.size..) {
                                let log_index = u64::try_from(index).ok();
                                state.outcomes.push((
                                    job.reply,
                                    Ok($crate::store::Committed { applied: Applied::Done, log_index }),
                                ));
                            }
                            state.size += entries;
                            continue;
                        }
                        statements.send(&mut tx).await?;
                        for job in run {
                            self.commit_one(&mut tx, job, &mut state).await?;
                        }
                    }
                    if let Some(feed) = $dialect::FEED.filter(|_| !state.effects.is_empty()) {
                        statements.send(&mut tx).await?;
                        sqlx::query(feed.append)
                            .bind($crate::store::mirror::encode(&state.effects))
                            .execute(&mut *tx)
                            .await?;
                    }
                    if state.size != head {
                        let [before, after] = sql::SET_LOG_SIZE_AROUND;
                        statements.next().push(before).push_bind(state.size).push(after);
                        statements.end(&mut tx).await?;
                    }
                    statements.send(&mut tx).await?;
                    tx.commit().await?;
                    Ok::<(), StoreError>(())
                }
                .await;
                if committed.is_ok() {
                    // What the next batch's appends read of this one's.
                    if let Ok(size) = u64::try_from(state.size) {
                        if let Ok(kept) = $crate::audit::tree::peaks(size) {
                            let known = std::mem::take(&mut state.known);
                            let kept = kept
                                .into_iter()
                                .filter_map(|index| known.get(&index).map(|hash| (index, *hash)))
                                .collect();
                            *peaks = Some((state.size, kept));
                        }
                    }
                }
                if let Err(error) = committed {
                    // Nothing of the batch committed: no change in it is
                    // acknowledged, whatever its savepoint said.
                    tracing::error!(%error, changes = state.outcomes.len(), "a batch of changes did not commit");
                    for (reply, _) in state.outcomes {
                        let _ = reply.send(Err(StoreError::Interrupted));
                    }
                    return;
                }
                if let Some(mirror) = self.mirror.as_deref().filter(|mirror| !mirror.is_replicated()) {
                    mirror.apply(&state.effects);
                }
                self.group.signal_commit();
                if state.erasing {
                    if let Some(statement) = $dialect::AFTER_ERASURE {
                        if let Err(error) = sqlx::query(statement).execute(&self.pool).await {
                            tracing::error!(%error, "truncating the write-ahead log after an erasure failed");
                        }
                    }
                }
                for (reply, outcome) in state.outcomes {
                    // A caller that stopped waiting still had its change
                    // committed; nobody is left to tell.
                    let _ = reply.send(outcome);
                }
            }

            /// Commits one change of a batch in a savepoint of its own.
            async fn commit_one(
                &self,
                tx: &mut Tx,
                job: $crate::store::group::Job,
                state: &mut BatchState,
            ) -> StoreResult<()> {
                let leaving = matches!(job.change, Change::Leave { .. });
                let mut own_effects = Vec::new();
                let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
                let staged = self
                    .stage_logged(&mut savepoint, job.change, state.size, &mut state.known, &mut own_effects)
                    .await;
                match staged {
                    Ok((applied, logged)) if applied != Applied::Missing => {
                        savepoint.commit().await?;
                        let log_index = (logged > 0).then(|| u64::try_from(state.size).ok()).flatten();
                        state.size += logged;
                        state.effects.extend(own_effects);
                        state.erasing |= leaving;
                        state
                            .outcomes
                            .push((job.reply, Ok($crate::store::Committed { applied, log_index })));
                    }
                    other => {
                        savepoint.rollback().await?;
                        state.forget_from(state.size);
                        state.outcomes.push((
                            job.reply,
                            other.map(|(applied, _)| $crate::store::Committed {
                                applied,
                                log_index: None,
                            }),
                        ));
                    }
                }
                Ok(())
            }

            /// Writes a run of third parties' calls and their entries from
            /// index `first` into `statements`, with one multi-row insert
            /// per table; says how many entries it wrote.
            async fn stage_calls(
                tx: &mut Tx,
                statements: &mut Statements,
                run: &[$crate::store::group::Job],
                first: i64,
                known: &mut std::collections::HashMap<u64, $crate::audit::tree::Hash>,
            ) -> StoreResult<i64> {
                let at = $crate::clock::Clock::now(&$crate::clock::SystemClock);
                let mut entries = Vec::with_capacity(run.len());
                let mut known_calls = Vec::new();
                let mut unmatched_calls = Vec::new();
                for job in run {
                    match &job.change {
                        Change::Access(call) => known_calls.push(call),
                        Change::UnmatchedAccess(call) => unmatched_calls.push(call),
                        _ => return Err(StoreError::Corrupt("not a third party's call".into())),
                    }
                    entries.extend($crate::audit::entry::Entry::of(&job.change, at)?);
                }
                if entries.len() != run.len() {
                    return Err(StoreError::Corrupt("a call without its log entry".into()));
                }
                Self::push_calls(tx, statements, &known_calls, &unmatched_calls).await?;
                Self::push_entries(tx, statements, first, &entries, known).await?;
                i64::try_from(entries.len()).map_err(|_| StoreError::Corrupt("too many calls".into()))
            }

            /// Stages `change` and, unless it changed nothing, its log
            /// entries from index `index` on: its own, those staging it
            /// produced, and one per withdrawal it announces (with that
            /// withdrawal's event in the outbox). Says how many entries
            /// it wrote.
            async fn stage_logged(
                &self,
                tx: &mut Tx,
                change: Change,
                index: i64,
                known: &mut std::collections::HashMap<u64, $crate::audit::tree::Hash>,
                effects: &mut Vec<Effect>,
            ) -> StoreResult<(Applied, i64)> {
                let at = $crate::clock::Clock::now(&$crate::clock::SystemClock);
                let entry = $crate::audit::entry::Entry::of(&change, at)?;
                let entry_present = entry.is_some();
                let mut staged = Staged::default();
                let applied = self.stage(tx, change, effects, &mut staged).await?;
                if applied == Applied::Missing {
                    return Ok((applied, 0));
                }
                let mut entries: Vec<_> = entry.into_iter().chain(staged.entries).collect();
                let count = |entries: &[$crate::audit::entry::Entry]| {
                    i64::try_from(entries.len())
                        .map_err(|_| StoreError::Corrupt("too many log entries".into()))
                };
                let first = index + count(&entries)?;
                // A change with an entry of its own (a revocation, a build)
                // counts from it; the chores' entries are all staged ones.
                let own = i64::from(entry_present);
                Self::record_license_events(tx, &staged.license_events, index, own, at).await?;
                if let Some(build) = &staged.build {
                    sqlx::query(sql::SET_BUILD_LOG_INDEX)
                        .bind(index)
                        .bind(build.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                let announced = Self::record_withdrawals(tx, &staged.withdrawals, first, at).await?;
                entries.extend(announced);
                if !entries.is_empty() {
                    Self::append_entries(tx, index, &entries, known).await?;
                }
                Ok((applied, count(&entries)?))
            }

            /// Writes one change's statements in `tx`, noting what the
            /// mirror must show once it commits.
            async fn stage(
                &self,
                tx: &mut Tx,
                change: Change,
                effects: &mut Vec<Effect>,
                staged: &mut Staged,
            ) -> StoreResult<Applied> {
                match change {
                    Change::Access(call) => {
                        let mut statements = Statements::new();
                        Self::push_calls(tx, &mut statements, &[&call], &[]).await?;
                        statements.send(tx).await?;
                        Ok(Applied::Done)
                    }
                    Change::UnmatchedAccess(call) => {
                        let mut statements = Statements::new();
                        Self::push_calls(tx, &mut statements, &[], &[&call]).await?;
                        statements.send(tx).await?;
                        Ok(Applied::Done)
                    }
                    Change::Enrol { member, token } => {
                        sqlx::query(sql::INSERT_MEMBER)
                            .bind(member.id.as_str())
                            .bind(member.display_name.as_ref().map($crate::domain::DisplayName::as_str))
                            .bind(member.registry.as_str())
                            .bind(member.accepts_delegations)
                            .bind(member.created_at)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        sqlx::query(sql::INSERT_MEMBER_TOKEN)
                            .bind(token.as_bytes())
                            .bind(member.id.as_str())
                            .bind(member.created_at)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        effects.push(Effect::Member {
                            id: member.id.clone(),
                            accepts_delegations: member.accepts_delegations,
                        });
                        Ok(Applied::Member(member))
                    }
                    Change::UpdateMember { id, patch } => {
                        let new_name = patch
                            .display_name
                            .as_ref()
                            .and_then(|name| name.as_ref().map($crate::domain::DisplayName::as_str));
                        let row = sqlx::query_as::<_, MemberRow>(sql::UPDATE_MEMBER)
                            .bind(patch.display_name.is_some())
                            .bind(new_name)
                            .bind(patch.registry.map(|registry| registry.as_str()))
                            .bind(patch.accepts_delegations)
                            .bind(id.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(row) = row else {
                            return Ok(Applied::Missing);
                        };
                        let (_, member) = row.into_domain()?;
                        if patch.accepts_delegations.is_some() {
                            Self::recheck(tx, &Owner::Member(member.id.clone())).await?;
                        }
                        effects.push(Effect::Member {
                            id: member.id.clone(),
                            accepts_delegations: member.accepts_delegations,
                        });
                        Ok(Applied::Member(member))
                    }
                    Change::Leave { member, at } => {
                        let left = sqlx::query(sql::MARK_LEFT)
                            .bind(at)
                            .bind(member.as_str())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if left == 0 {
                            return Ok(Applied::Missing);
                        }
                        let owner = Owner::Member(member.clone());
                        Self::bump(tx, &owner, effects).await?;
                        // Everything they gave is withdrawn now, while
                        // their subjects are still known; members whose
                        // delegations reach them are decided again.
                        Self::withdraw_everything(tx, &member, None, staged).await?;
                        Self::recheck(tx, &owner).await?;
                        for statement in [
                            sql::DELETE_TOKENS_OF,
                            sql::DELETE_DELEGATIONS_OF,
                            sql::DELETE_DATA_OF,
                            sql::DELETE_CONNECTIONS_OF,
                            sql::END_MEMBER_SESSIONS,
                            sql::DELETE_LINKS_OF,
                            sql::DELETE_FLOWS_OF,
                            sql::DELETE_IDENTITIES_OF,
                            sql::FORGET_MEMBER_BUILDS,
                        ] {
                            sqlx::query(statement)
                                .bind(member.as_str())
                                .execute(&mut *tx)
                                .await?;
                        }
                        sqlx::query(sql::DELETE_RULES_OF)
                            .bind(owner.kind())
                            .bind(owner.id())
                            .execute(&mut *tx)
                            .await?;
                        effects.push(Effect::Left { id: member });
                        Ok(Applied::Done)
                    }
                    Change::ApproveThirdParty {
                        third_party,
                        secret_hash,
                        webhook_secret,
                    } => {
                        sqlx::query(sql::INSERT_THIRD_PARTY)
                            .bind(third_party.id.as_str())
                            .bind(third_party.name.as_str())
                            .bind(third_party.class.as_str())
                            .bind(third_party.status.as_str())
                            .bind(third_party.webhook_url.as_deref())
                            .bind(third_party.client_id.as_str())
                            .bind(secret_hash.as_str())
                            .bind(third_party.created_at)
                            .bind(third_party.updated_at)
                            .bind(webhook_secret.as_deref())
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        effects.push(Effect::ThirdParty {
                            id: third_party.id.clone(),
                            class: third_party.class,
                            status: third_party.status,
                        });
                        Ok(Applied::ThirdParty(third_party))
                    }
                    Change::SetThirdPartyStatus { id, status, at } => {
                        let row = sqlx::query_as::<_, ThirdPartyRow>(sql::UPDATE_THIRD_PARTY_STATUS)
                            .bind(status.as_str())
                            .bind(at)
                            .bind(id.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        Self::third_party_changed(row, effects)
                    }
                    Change::RotateSecret {
                        id,
                        secret_hash,
                        at,
                    } => {
                        let row = sqlx::query_as::<_, ThirdPartyRow>(sql::ROTATE_SECRET)
                            .bind(secret_hash.as_str())
                            .bind(at)
                            .bind(id.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        sqlx::query(sql::DELETE_ACCESS_TOKENS_OF)
                            .bind(id.as_str())
                            .execute(&mut *tx)
                            .await?;
                        Self::third_party_changed(row, effects)
                    }
                    Change::AddRules { owner, rules } => {
                        Self::bump(tx, &owner, effects).await?;
                        if let Owner::Member(member) = &owner {
                            Self::member_in_coop(tx, member).await?;
                        }
                        let held =
                            Self::count(tx, sql::COUNT_RULES_OF, &[owner.kind(), owner.id()]).await?;
                        Self::within("rules of one owner", held, rules.len(), self.limits.rules_per_owner)?;
                        Self::insert_rules(tx, &rules).await?;
                        Self::recheck(tx, &owner).await?;
                        Ok(Applied::Done)
                    }
                    Change::DeleteRule { owner, id } => {
                        let deleted = sqlx::query(sql::DELETE_RULE)
                            .bind(id.as_str())
                            .bind(owner.kind())
                            .bind(owner.id())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Ok(Applied::Missing);
                        }
                        Self::bump(tx, &owner, effects).await?;
                        Self::recheck(tx, &owner).await?;
                        Ok(Applied::Done)
                    }
                    Change::PublishPersona { persona, rules } => {
                        sqlx::query(sql::INSERT_PERSONA)
                            .bind(persona.id.as_str())
                            .bind(persona.name.as_str())
                            .bind(persona.description.as_str())
                            .bind(persona.created_at)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        let owner = Owner::Persona(persona.id.clone());
                        Self::bump(tx, &owner, effects).await?;
                        Self::within("rules of one owner", 0, rules.len(), self.limits.rules_per_owner)?;
                        Self::insert_rules(tx, &rules).await?;
                        effects.push(Effect::Persona { id: persona.id });
                        Ok(Applied::Done)
                    }
                    Change::Delegate { delegation } => {
                        let owner = Owner::Member(delegation.member.clone());
                        Self::bump(tx, &owner, effects).await?;
                        Self::member_in_coop(tx, &delegation.member).await?;
                        let held =
                            Self::count(tx, sql::COUNT_DELEGATIONS_OF, &[delegation.member.as_str()])
                                .await?;
                        Self::within(
                            "delegations of one member",
                            held,
                            1,
                            self.limits.delegations_per_member,
                        )?;
                        let seq: i64 = sqlx::query_scalar(sql::INSERT_DELEGATION)
                            .bind(delegation.id.as_str())
                            .bind(delegation.member.as_str())
                            .bind(delegation.proxy.kind())
                            .bind(delegation.proxy.id())
                            .bind($crate::store::rows::term_list(&delegation.scope.data_categories))
                            .bind($crate::store::rows::term_list(&delegation.scope.purposes))
                            .bind(delegation.scope.key())
                            .bind(delegation.created_at)
                            .bind(delegation.cedar.as_str())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(StoreError::from_write)?;
                        Self::recheck(tx, &owner).await?;
                        Ok(Applied::Delegation($crate::domain::Delegation {
                            seq,
                            ..delegation
                        }))
                    }
                    Change::Revoke { member, id } => {
                        let deleted = sqlx::query(sql::DELETE_DELEGATION)
                            .bind(id.as_str())
                            .bind(member.as_str())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Ok(Applied::Missing);
                        }
                        let owner = Owner::Member(member);
                        Self::bump(tx, &owner, effects).await?;
                        Self::recheck(tx, &owner).await?;
                        Ok(Applied::Done)
                    }
                    Change::Disconnect {
                        member,
                        third_party,
                        ..
                    } => {
                        Self::withdraw_everything(tx, &member, Some(&third_party), staged).await?;
                        let deleted = sqlx::query(sql::DELETE_CONNECTION)
                            .bind(member.as_str())
                            .bind(third_party.as_str())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Ok(Applied::Missing);
                        }
                        effects.push(Effect::Disconnected { id: member });
                        Ok(Applied::Done)
                    }
                    Change::SetWebhook {
                        id,
                        url,
                        secret,
                        replace_secret,
                        at,
                    } => {
                        let row = sqlx::query_as::<_, $crate::store::rows::WebhookRow>(sql::SET_WEBHOOK)
                            .bind(url.as_deref())
                            .bind(secret.as_str())
                            .bind(at)
                            .bind(id.as_str())
                            .bind(replace_secret)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(row) = row else {
                            return Ok(Applied::Missing);
                        };
                        if url.is_some() {
                            sqlx::query(sql::EVENTS_DUE_NOW)
                                .bind(at)
                                .bind(id.as_str())
                                .execute(&mut *tx)
                                .await?;
                        }
                        let (in_force, third_party) = row.into_domain()?;
                        effects.push(Effect::ThirdParty {
                            id: third_party.id.clone(),
                            class: third_party.class,
                            status: third_party.status,
                        });
                        Ok(Applied::Webhook {
                            third_party,
                            secret: in_force,
                        })
                    }
                    Change::Withdraw {
                        rechecks,
                        withdrawals,
                        still_allowed,
                        ..
                    } => {
                        for seq in rechecks {
                            sqlx::query(sql::DELETE_RECHECK).bind(seq).execute(&mut *tx).await?;
                        }
                        for recipient in &still_allowed {
                            sqlx::query(sql::RECIPIENT_CHECKED)
                                .bind(recipient.member.as_str())
                                .bind(recipient.third_party.as_str())
                                .bind(recipient.purpose.as_str())
                                .bind(recipient.category.as_str())
                                .bind(recipient.received_through)
                                .execute(&mut *tx)
                                .await?;
                        }
                        staged.withdrawals = withdrawals;
                        Ok(Applied::Done)
                    }
                    Change::Fold { limit } => {
                        let (through, _): (i64, Option<chrono::DateTime<chrono::Utc>>) =
                            sqlx::query_as(sql::FOLD_HEAD).fetch_one(&mut *tx).await?;
                        let calls = sqlx::query_as::<_, FoldedCall>(sql::CALLS_AFTER)
                            .bind(through)
                            .bind(i64::from(limit))
                            .fetch_all(&mut *tx)
                            .await?;
                        if let Some(last) = calls.last().map(|call| call.seq) {
                            Self::fold_calls(tx, &calls).await?;
                            sqlx::query(sql::SET_FOLD).bind(last).execute(&mut *tx).await?;
                        }
                        Ok(Applied::Count(u64::try_from(calls.len()).unwrap_or(u64::MAX)))
                    }
                    Change::Sweep { now } => {
                        let (_, swept): (i64, Option<chrono::DateTime<chrono::Utc>>) =
                            sqlx::query_as(sql::FOLD_HEAD).fetch_one(&mut *tx).await?;
                        let mut found = 0;
                        if let Some(swept) = swept.filter(|swept| *swept < now) {
                            let owners = sqlx::query_as::<_, (String, String)>(sql::OWNERS_WITH_INSTANTS)
                                .bind(swept)
                                .bind(now)
                                .fetch_all(&mut *tx)
                                .await?;
                            for (kind, id) in owners {
                                let owner = Owner::from_parts(&kind, id)
                                    .ok_or_else(|| StoreError::Corrupt(format!("rule owner `{kind}`")))?;
                                Self::recheck(tx, &owner).await?;
                                found += 1;
                            }
                        }
                        if swept.is_none_or(|swept| swept < now) {
                            sqlx::query(sql::SET_SWEPT).bind(now).execute(&mut *tx).await?;
                        }
                        Ok(Applied::Count(found))
                    }
                    Change::Web(change) => Self::stage_web(tx, change).await,
                    Change::CreateDataset { dataset } => {
                        let definition = serde_json::to_string(&dataset.spec.to_wire())
                            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                        sqlx::query(sql::INSERT_DATASET)
                            .bind(dataset.id.as_str())
                            .bind(dataset.spec.name.as_str())
                            .bind(definition)
                            .bind(dataset.created_at)
                            .execute(&mut *tx)
                            .await?;
                        Ok(Applied::Done)
                    }
                    Change::CreateLicense { license } => {
                        sqlx::query(sql::INSERT_LICENSE)
                            .bind(license.id.as_str())
                            .bind(license.spec.dataset.as_str())
                            .bind(license.spec.licensee.as_str())
                            .bind(license.spec.valid_from)
                            .bind(license.spec.valid_until)
                            .bind(i64::from(license.spec.data_life_days))
                            .bind(license.created_at)
                            .execute(&mut *tx)
                            .await?;
                        Ok(Applied::Done)
                    }
                    Change::RevokeLicense { id, at } => {
                        let revoked = sqlx::query_as::<_, (String, String)>(sql::REVOKE_LICENSE)
                            .bind(at)
                            .bind(id.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some((licensee, dataset)) = revoked else {
                            return Ok(Applied::Missing);
                        };
                        // Announced by the change's own entry (position 0).
                        staged.license_events.push($crate::store::LicenseEvent {
                            kind: datacoop_wire::EventType::LicenseRevoked,
                            license: id,
                            dataset,
                            licensee,
                            entry: 0,
                        });
                        Ok(Applied::Done)
                    }
                    Change::SpendBudget {
                        dataset,
                        micros,
                        budget_micros,
                        ..
                    } => {
                        let spent = sqlx::query_scalar::<_, i64>(sql::SPEND_BUDGET)
                            .bind(micros)
                            .bind(dataset.as_str())
                            .bind(budget_micros)
                            .fetch_optional(&mut *tx)
                            .await?;
                        Ok(match spent {
                            Some(spent) => Applied::Count(u64::try_from(spent).unwrap_or_default()),
                            None => Applied::Missing,
                        })
                    }
                    Change::RecordBuild(build) => {
                        // The build's entry is the change's own (position 0):
                        // its index is written once the batch knows it, below.
                        let seq = sqlx::query_scalar::<_, i64>(sql::INSERT_BUILD)
                            .bind(build.id.as_str())
                            .bind(build.license.as_str())
                            .bind(build.built_at)
                            .bind(build.expires_at)
                            .bind(build.manifest.as_str())
                            .bind(build.published.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                        for chunk in build.members.chunks(50_000) {
                            let ids: Vec<&str> = chunk.iter().map(|id| id.as_str()).collect();
                            sqlx::query($dialect::INSERT_BUILD_MEMBERS)
                                .bind(serde_json::to_string(&ids).unwrap_or_default())
                                .bind(seq)
                                .execute(&mut *tx)
                                .await?;
                        }
                        staged.build = Some(build.id.clone());
                        Ok(Applied::Done)
                    }
                    Change::DatasetChores { now } => {
                        let ended = sqlx::query_as::<_, (String, String, String)>(sql::LICENSES_ENDED)
                            .bind(now)
                            .fetch_all(&mut *tx)
                            .await?;
                        let mut done = 0_u64;
                        for (license, licensee, dataset) in ended {
                            sqlx::query(sql::MARK_LICENSE_EXPIRED)
                                .bind(now)
                                .bind(license.as_str())
                                .execute(&mut *tx)
                                .await?;
                            staged.license_events.push($crate::store::LicenseEvent {
                                kind: datacoop_wire::EventType::LicenseExpired,
                                entry: staged.entries.len(),
                                license: license.clone(),
                                dataset: dataset.clone(),
                                licensee: licensee.clone(),
                            });
                            staged.entries.push($crate::audit::entry::Entry::license_expired(
                                &license, &dataset, &licensee, now,
                            )?);
                            done += 1;
                        }
                        done += sqlx::query(sql::DELETE_BUILD_ROWS)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        Ok(Applied::Count(done))
                    }
                    Change::ConfirmDeletion {
                        third_party,
                        event,
                        at,
                    } => {
                        let found = sqlx::query_as::<_, (String, Option<chrono::DateTime<chrono::Utc>>)>(
                            sql::EVENT_OF,
                        )
                        .bind(event.as_str())
                        .bind(third_party.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                        let Some((member, confirmed)) = found else {
                            return Ok(Applied::Missing);
                        };
                        if let Some(confirmed) = confirmed {
                            return Ok(Applied::Confirmed { at: confirmed, now: false });
                        }
                        sqlx::query(sql::CONFIRM_DELETION)
                            .bind(at)
                            .bind(event.as_str())
                            .execute(&mut *tx)
                            .await?;
                        staged.entries.push($crate::audit::entry::Entry::deletion_confirmed(
                            &event,
                            &$crate::domain::MemberId::from_trusted(member),
                            &third_party,
                            at,
                        )?);
                        Ok(Applied::Confirmed { at, now: true })
                    }
                }
            }

            fn third_party_changed(
                row: Option<ThirdPartyRow>,
                effects: &mut Vec<Effect>,
            ) -> StoreResult<Applied> {
                let Some(row) = row else {
                    return Ok(Applied::Missing);
                };
                let (_, third_party) = row.into_domain()?;
                effects.push(Effect::ThirdParty {
                    id: third_party.id.clone(),
                    class: third_party.class,
                    status: third_party.status,
                });
                Ok(Applied::ThirdParty(third_party))
            }

            /// Fills the mirror from the database. A replicated mirror
            /// starts at the feed's head read first: whatever the loads
            /// below see of later changes, the feed's rows after that head
            /// apply them again, and each effect sets what it names to the
            /// database's value (versions only ever rise), so once the
            /// mirror has applied the feed up to a later head it shows that
            /// head's state.
            async fn load_mirror(&self) -> StoreResult<()> {
                let Some(mirror) = &self.mirror else {
                    return Ok(());
                };
                let position = match $dialect::FEED {
                    Some(feed) => {
                        let head: i64 = sqlx::query_scalar(feed.head).fetch_one(&self.pool).await?;
                        u64::try_from(head).map_err(|_| StoreError::Corrupt("a negative feed head".to_owned()))?
                    }
                    None => 0,
                };
                let third_parties = sqlx::query_as::<_, (String, String, String)>(sql::ALL_THIRD_PARTY_FACTS)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|(id, class, status)| {
                        let class = $crate::domain::RequesterClass::parse(&class).ok_or_else(|| {
                            StoreError::Corrupt(format!("third-party class `{class}`"))
                        })?;
                        let status = $crate::domain::ThirdPartyStatus::parse(&status).ok_or_else(|| {
                            StoreError::Corrupt(format!("third-party status `{status}`"))
                        })?;
                        Ok((id, class, status))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                let members = sqlx::query_as::<_, (String, bool)>(sql::ALL_ACTIVE_MEMBER_IDS)
                    .fetch_all(&self.pool)
                    .await?;
                let personas = sqlx::query_scalar::<_, String>(sql::ALL_PERSONA_IDS)
                    .fetch_all(&self.pool)
                    .await?;
                let versions = $crate::store::Store::all_policy_versions(self).await?;
                mirror.load(third_parties, members, personas, versions, position);
                Ok(())
            }

            /// Brings a replicated mirror up to the feed's head, read now:
            /// one query when nothing was missed (the head and the rows
            /// after the mirror's position, in one snapshot), a page more
            /// for every 512 rows behind, everything loaded again after a
            /// gap. Once it returns, the mirror shows every change
            /// acknowledged before it was called. A mirror of the embedded
            /// store is always current.
            async fn sync_feed(&self) -> StoreResult<()> {
                let (Some(mirror), Some(_)) = (self.mirror.as_deref(), $dialect::FEED) else {
                    return Ok(());
                };
                mirror.catch_up(|| self.sync_round()).await
            }

            /// One round of `sync_feed`: read the feed from the mirror's
            /// position to the head, apply it, load anew after a gap.
            async fn sync_round(&self) -> StoreResult<()> {
                use $crate::store::mirror::FeedOutcome;
                const PAGE: usize = 512;
                let (Some(mirror), Some(feed)) = (self.mirror.as_deref(), $dialect::FEED) else {
                    return Ok(());
                };
                loop {
                    let Some(position) = mirror.position() else {
                        let _loading = mirror.loading().await;
                        if mirror.position().is_none() {
                            self.load_mirror().await?;
                        }
                        continue;
                    };
                    let rows = sqlx::query_as::<_, (i64, Option<i64>, Option<String>)>(feed.since)
                        .bind(i64::try_from(position).unwrap_or(i64::MAX))
                        .bind(PAGE as i64)
                        .fetch_all(&self.pool)
                        .await?;
                    let head = rows
                        .first()
                        .and_then(|(head, _, _)| u64::try_from(*head).ok())
                        .ok_or_else(|| StoreError::Corrupt("no feed head".to_owned()))?;
                    let mut applied = Vec::with_capacity(rows.len());
                    for (_, seq, effects) in rows {
                        if let (Some(seq), Some(effects)) = (seq, effects) {
                            let effects = $crate::store::mirror::decode(&effects)
                                .map_err(|error| StoreError::Corrupt(format!("feed row {seq}: {error}")))?;
                            applied.push((u64::try_from(seq).unwrap_or(0), effects));
                        }
                    }
                    let full_page = applied.len() == PAGE;
                    match mirror.apply_feed(applied) {
                        FeedOutcome::Current(now) if now >= head => return Ok(()),
                        FeedOutcome::Current(_) if full_page => {}
                        FeedOutcome::Current(_) | FeedOutcome::Gap => {
                            // Rows this replica needs are gone: load anew,
                            // once, however many decisions found the gap.
                            let _loading = mirror.loading().await;
                            if mirror.position() == Some(position) || mirror.position().is_none() {
                                tracing::warn!(position, head, "the change feed has a gap here: loading every fact again");
                                self.load_mirror().await?;
                            }
                        }
                        FeedOutcome::Unloaded => {}
                    }
                }
            }

            async fn bulk_load_now(self, bulk: Bulk) -> StoreResult<()> {
                use $crate::store::BULK_ROWS;
                use $crate::audit::entry::Entry;
                // Alone in the log: no batch of changes appends meanwhile.
                let mut commit = self.group.turn().await;
                *commit = None;
                let _turn = match self.mirror.as_deref().filter(|mirror| !mirror.is_replicated()) {
                    Some(mirror) => Some(mirror.writer().await),
                    None => None,
                };
                let now = $crate::clock::Clock::now(&$crate::clock::SystemClock);
                let mut tx = self.writer.begin().await?;
                let mut log = BulkLog::start(&mut tx).await?;
                for chunk in bulk.members.chunks(BULK_ROWS) {
                    sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO members (id, display_name, registry, accepts_delegations, created_at) ",
                    )
                    .push_values(chunk, |mut row, member| {
                        row.push_bind(member.id.as_str())
                            .push_bind(member.display_name.as_ref().map($crate::domain::DisplayName::as_str))
                            .push_bind(member.registry.as_str())
                            .push_bind(member.accepts_delegations)
                            .push_bind(member.created_at);
                    })
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                    let entries = chunk
                        .iter()
                        .map(|member| Entry::joined(member, now))
                        .collect::<Result<Vec<_>, _>>()?;
                    log.append(&mut tx, entries).await?;
                }
                for chunk in bulk.data.chunks(BULK_ROWS) {
                    sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO member_data (member_id, category, value, updated_at) ",
                    )
                    .push_values(chunk, |mut row, (member, category, value)| {
                        row.push_bind(member.as_str())
                            .push_bind(category.as_str())
                            .push_bind(value.as_str())
                            .push_bind(now);
                    })
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                }
                let mut ignored = Vec::new();
                for (third_party, secret_hash) in &bulk.third_parties {
                    let change = Change::ApproveThirdParty {
                        third_party: third_party.clone(),
                        secret_hash: secret_hash.clone(),
                        webhook_secret: None,
                    };
                    let entry = Entry::of(&change, now)?;
                    self.stage(&mut *tx, change, &mut ignored, &mut Staged::default()).await?;
                    log.append(&mut tx, entry.into_iter().collect()).await?;
                }
                for persona in &bulk.personas {
                    sqlx::query(sql::INSERT_PERSONA)
                        .bind(persona.id.as_str())
                        .bind(persona.name.as_str())
                        .bind(persona.description.as_str())
                        .bind(persona.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_write)?;
                    let owner = Owner::Persona(persona.id.clone());
                    let change = Change::PublishPersona {
                        persona: persona.clone(),
                        rules: bulk.rules.iter().filter(|rule| rule.owner == owner).cloned().collect(),
                    };
                    log.append(&mut tx, Entry::of(&change, now)?.into_iter().collect()).await?;
                }
                for chunk in bulk.rules.chunks(BULK_ROWS) {
                    sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO rules (id, owner_kind, owner_id, effect, action, requester_kind, requester_value, \
                         data_categories, purposes, not_before, expires_at, created_at, cedar) ",
                    )
                    .push_values(chunk, |mut row, rule| {
                        let columns = RuleColumns::of(&rule.spec);
                        row.push_bind(rule.id.as_str())
                            .push_bind(rule.owner.kind())
                            .push_bind(rule.owner.id().to_owned())
                            .push_bind(columns.effect)
                            .push_bind(columns.action)
                            .push_bind(columns.requester_kind)
                            .push_bind(columns.requester_value)
                            .push_bind(columns.data_categories)
                            .push_bind(columns.purposes)
                            .push_bind(rule.spec.not_before)
                            .push_bind(rule.spec.expires_at)
                            .push_bind(rule.created_at)
                            .push_bind(rule.cedar.as_str());
                    })
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                    // One entry per run of one owner's rules (a persona's
                    // are in its `persona.published`).
                    let mut entries = Vec::new();
                    for run in chunk.chunk_by(|left, right| left.owner == right.owner) {
                        let Some(first) = run.first() else { continue };
                        if matches!(first.owner, Owner::Persona(_)) {
                            continue;
                        }
                        let change = Change::AddRules {
                            owner: first.owner.clone(),
                            rules: run.to_vec(),
                        };
                        entries.extend(Entry::of(&change, now)?);
                    }
                    log.append(&mut tx, entries).await?;
                }
                for chunk in bulk.delegations.chunks(BULK_ROWS) {
                    sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO delegations (id, member_id, proxy_kind, proxy_id, data_categories, purposes, \
                         scope_key, created_at, cedar) ",
                    )
                    .push_values(chunk, |mut row, delegation| {
                        row.push_bind(delegation.id.as_str())
                            .push_bind(delegation.member.as_str())
                            .push_bind(delegation.proxy.kind())
                            .push_bind(delegation.proxy.id().to_owned())
                            .push_bind($crate::store::rows::term_list(&delegation.scope.data_categories))
                            .push_bind($crate::store::rows::term_list(&delegation.scope.purposes))
                            .push_bind(delegation.scope.key())
                            .push_bind(delegation.created_at)
                            .push_bind(delegation.cedar.as_str());
                    })
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                    let mut entries = Vec::with_capacity(chunk.len());
                    for delegation in chunk {
                        let change = Change::Delegate { delegation: delegation.clone() };
                        entries.extend(Entry::of(&change, now)?);
                    }
                    log.append(&mut tx, entries).await?;
                }
                for chunk in bulk.versions.chunks(BULK_ROWS) {
                    sqlx::QueryBuilder::<$db>::new("INSERT INTO policy_versions (owner_kind, owner_id, version) ")
                        .push_values(chunk, |mut row, (owner, version)| {
                            row.push_bind(owner.kind()).push_bind(owner.id().to_owned()).push_bind(*version);
                        })
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_write)?;
                }
                log.finish(&mut tx).await?;
                if let Some(feed) = $dialect::FEED {
                    // No effects were written: every replica loads anew.
                    sqlx::query(feed.skip).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                self.load_mirror().await
            }
        }

        /// Statements of one transaction, sent in as few trips as the
        /// database allows: SQLite runs a text of several statements and
        /// their parameters in one call (one trip to its connection's
        /// thread), PostgreSQL takes one statement with parameters at a
        /// time (`dialect::*::STATEMENTS_PER_TRIP`).
        struct Statements {
            text: sqlx::QueryBuilder<$db>,
            held: usize,
        }

        impl Statements {
            fn new() -> Self {
                Self {
                    text: sqlx::QueryBuilder::new(""),
                    held: 0,
                }
            }

            /// Where the next statement is written.
            fn next(&mut self) -> &mut sqlx::QueryBuilder<$db> {
                &mut self.text
            }

            /// Ends the statement just written: sends it at once unless
            /// the database takes several in one trip.
            async fn end(&mut self, tx: &mut Tx) -> StoreResult<()> {
                self.held += 1;
                if $dialect::STATEMENTS_PER_TRIP {
                    self.text.push("; ");
                    return Ok(());
                }
                self.send(tx).await
            }

            /// Sends every statement held, in order.
            async fn send(&mut self, tx: &mut Tx) -> StoreResult<()> {
                if self.held == 0 {
                    return Ok(());
                }
                self.text.build().execute(&mut *tx).await?;
                self.text.reset();
                self.held = 0;
                Ok(())
            }
        }

        /// One third party's call as its table's row: the two ids it
        /// names, then what it asked and was answered.
        struct CallRow<'c> {
            ids: [&'c str; 2],
            purpose: &'c str,
            action: datacoop_wire::Action,
            decision: datacoop_wire::Verdict,
            categories: &'c [$crate::store::CategoryVerdict],
            at: chrono::DateTime<chrono::Utc>,
        }

        /// What a batch of changes has done so far.
        struct BatchState {
            /// The log's size with the changes committed so far.
            size: i64,
            /// The tree's stored hashes read or written by this batch.
            known: std::collections::HashMap<u64, $crate::audit::tree::Hash>,
            outcomes: Vec<(
                tokio::sync::oneshot::Sender<StoreResult<$crate::store::Committed>>,
                StoreResult<$crate::store::Committed>,
            )>,
            effects: Vec<Effect>,
            erasing: bool,
        }

        impl BatchState {
            /// Forgets the hashes of leaves from `size` on: a savepoint
            /// that wrote them was rolled back.
            fn forget_from(&mut self, size: i64) {
                let Ok(size) = u64::try_from(size) else { return };
                let first = $crate::audit::tree::first_stored_index(size);
                self.known.retain(|index, _| *index < first);
            }
        }

        /// The log's appends of a bulk load: entries in large multi-row
        /// inserts, the tree's hashes computed in memory from only the
        /// subtree roots the next append needs.
        struct BulkLog {
            next: i64,
            known: std::collections::HashMap<u64, $crate::audit::tree::Hash>,
        }

        impl BulkLog {
            /// Reads (and, on PostgreSQL, locks) the log's head.
            async fn start(tx: &mut Tx) -> StoreResult<Self> {
                let head: i64 = sqlx::query_scalar($dialect::LOG_HEAD)
                    .fetch_one(&mut *tx)
                    .await?;
                let size = u64::try_from(head)
                    .map_err(|_| StoreError::Corrupt("negative log size".into()))?;
                let needs = Self::peaks(size)?;
                let known = $store::read_hashes(&mut *tx, &needs).await?.into_iter().collect();
                Ok(Self { next: head, known })
            }

            fn peaks(size: u64) -> StoreResult<Vec<i64>> {
                $crate::audit::tree::peaks(size)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?
                    .into_iter()
                    .map(i64::try_from)
                    .collect::<Result<_, _>>()
                    .map_err(|_| StoreError::Corrupt("log hash index out of range".into()))
            }

            async fn append(
                &mut self,
                tx: &mut Tx,
                entries: Vec<$crate::audit::entry::Entry>,
            ) -> StoreResult<()> {
                $store::append_entries(tx, self.next, &entries, &mut self.known).await?;
                self.next += i64::try_from(entries.len())
                    .map_err(|_| StoreError::Corrupt("too many entries".into()))?;
                // Keep only what later appends read.
                let peaks: std::collections::HashSet<i64> =
                    Self::peaks(u64::try_from(self.next).unwrap_or_default())?.into_iter().collect();
                self.known
                    .retain(|index, _| i64::try_from(*index).is_ok_and(|index| peaks.contains(&index)));
                Ok(())
            }

            /// Moves the log's head past every entry appended.
            async fn finish(self, tx: &mut Tx) -> StoreResult<()> {
                sqlx::query(sql::SET_LOG_SIZE)
                    .bind(self.next)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn migrate(&self) -> StoreResult<()> {
                $migrator.run(&self.pool).await?;
                // A replicated mirror loads when first needed (`current`):
                // `datacoop migrate` has no use for it.
                if self.mirror.as_deref().is_some_and(|mirror| !mirror.is_replicated()) {
                    self.load_mirror().await?;
                }
                Ok(())
            }

            async fn current(&self) -> StoreResult<()> {
                if self.mirror.as_deref().is_some_and(|mirror| mirror.position().is_none() && !mirror.is_replicated()) {
                    self.load_mirror().await?;
                }
                self.sync_feed().await
            }

            async fn pending_migrations(&self) -> StoreResult<Vec<i64>> {
                let applied: std::collections::HashSet<i64> =
                    match sqlx::query_scalar::<_, i64>(sql::APPLIED_MIGRATIONS).fetch_all(&self.pool).await {
                        Ok(applied) => applied.into_iter().collect(),
                        // No migrations table yet: nothing applied.
                        Err(sqlx::Error::Database(_)) => std::collections::HashSet::new(),
                        Err(error) => return Err(error.into()),
                    };
                Ok($migrator
                    .iter()
                    .filter(|migration| !migration.migration_type.is_down_migration())
                    .map(|migration| migration.version)
                    .filter(|version| !applied.contains(version))
                    .collect())
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.writes.close();
                self.writes.wait().await;
                self.writer.close().await;
                self.pool.close().await;
            }

            async fn settle(&self) {
                // Polled rather than `close` + `wait` + `reopen`, which two
                // callers at once could interleave into waiting forever.
                while !self.writes.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }

            async fn apply(&self, change: Change) -> StoreResult<$crate::store::Committed> {
                self.in_own_task(self.clone().apply_now(change)).await
            }

            async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
                Ok(sqlx::query_scalar::<_, String>(sql::SELECT_SETTING)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn insert_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool> {
                let done = sqlx::query(sql::INSERT_SETTING_IF_ABSENT)
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_write)?;
                Ok(done.rows_affected() == 1)
            }

            async fn member(
                &self,
                id: &$crate::domain::MemberId,
            ) -> StoreResult<Option<$crate::domain::Member>> {
                sqlx::query_as::<_, MemberRow>(sql::SELECT_MEMBER)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.into_domain().map(|(_, member)| member))
                    .transpose()
            }

            async fn member_by_token(
                &self,
                token: &$crate::credentials::TokenHash,
            ) -> StoreResult<Option<$crate::domain::Member>> {
                sqlx::query_as::<_, MemberRow>(sql::SELECT_MEMBER_BY_TOKEN)
                    .bind(token.as_bytes())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.into_domain().map(|(_, member)| member))
                    .transpose()
            }

            async fn list_members(
                &self,
                after: Option<Seq>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, $crate::domain::Member)>> {
                sqlx::query_as::<_, MemberRow>(sql::LIST_MEMBERS)
                    .bind(after.unwrap_or(0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(MemberRow::into_domain)
                    .collect()
            }

            async fn third_party(
                &self,
                id: &$crate::domain::ThirdPartyId,
            ) -> StoreResult<Option<$crate::domain::ThirdParty>> {
                sqlx::query_as::<_, ThirdPartyRow>(sql::SELECT_THIRD_PARTY)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.into_domain().map(|(_, third_party)| third_party))
                    .transpose()
            }

            async fn list_third_parties(
                &self,
                after: Option<Seq>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, $crate::domain::ThirdParty)>> {
                sqlx::query_as::<_, ThirdPartyRow>(sql::LIST_THIRD_PARTIES)
                    .bind(after.unwrap_or(0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(ThirdPartyRow::into_domain)
                    .collect()
            }

            async fn rules_of(&self, owner: &Owner) -> StoreResult<Vec<Rule>> {
                sqlx::query_as::<_, RuleRow>(sql::RULES_OF)
                    .bind(owner.kind())
                    .bind(owner.id())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(RuleRow::into_domain)
                    .collect()
            }

            async fn all_rules(&self) -> StoreResult<Vec<Rule>> {
                sqlx::query_as::<_, RuleRow>(sql::ALL_RULES)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(RuleRow::into_domain)
                    .collect()
            }

            async fn all_policy_versions(&self) -> StoreResult<Vec<(Owner, i64)>> {
                sqlx::query_as::<_, VersionRow>(sql::ALL_POLICY_VERSIONS)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(VersionRow::into_domain)
                    .collect()
            }

            async fn decision_facts(
                &self,
                requester: Option<&$crate::domain::ThirdPartyId>,
                member: Option<&$crate::domain::MemberId>,
            ) -> StoreResult<DecisionFacts> {
                self.sync_feed().await?;
                if let Some(facts) = self
                    .mirror
                    .as_ref()
                    .and_then(|mirror| mirror.facts(requester, member))
                {
                    return Ok(facts);
                }
                sqlx::query_as::<_, FactsRow>(sql::DECISION_FACTS)
                    .bind(requester.map_or("", |id| id.as_str()))
                    .bind(member.map_or("", |id| id.as_str()))
                    .fetch_one(&self.pool)
                    .await?
                    .into_domain()
            }

            async fn personas(&self) -> StoreResult<Vec<$crate::domain::Persona>> {
                Ok(sqlx::query_as::<_, PersonaRow>(sql::LIST_PERSONAS)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(PersonaRow::into_domain)
                    .collect())
            }

            async fn delegations_of(
                &self,
                member: &$crate::domain::MemberId,
            ) -> StoreResult<Vec<$crate::domain::Delegation>> {
                sqlx::query_as::<_, DelegationRow>(sql::DELEGATIONS_OF)
                    .bind(member.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(DelegationRow::into_domain)
                    .collect()
            }

            async fn all_delegations(&self) -> StoreResult<Vec<$crate::domain::Delegation>> {
                sqlx::query_as::<_, DelegationRow>(sql::ALL_DELEGATIONS)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(DelegationRow::into_domain)
                    .collect()
            }

            async fn count_delegators(&self, proxy: &Owner) -> StoreResult<u64> {
                let count: i64 = sqlx::query_scalar(sql::COUNT_DELEGATORS)
                    .bind(proxy.kind())
                    .bind(proxy.id())
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn public_delegators(
                &self,
                proxy: &Owner,
                after: Option<Seq>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, $crate::domain::MemberId)>> {
                Ok(sqlx::query_as::<_, (Seq, String)>(sql::PUBLIC_DELEGATORS)
                    .bind(proxy.kind())
                    .bind(proxy.id())
                    .bind(after.unwrap_or(0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|(seq, id)| (seq, $crate::domain::MemberId::from_trusted(id)))
                    .collect())
            }

            async fn owner_states(&self, owners: &[Owner]) -> StoreResult<Vec<OwnerState>> {
                self.sync_feed().await?;
                self.known_owner_states(owners).await
            }

            async fn known_owner_states(&self, owners: &[Owner]) -> StoreResult<Vec<OwnerState>> {
                if let Some(states) = self
                    .mirror
                    .as_ref()
                    .and_then(|mirror| mirror.owner_states(owners))
                {
                    return Ok(states);
                }
                let keys: Vec<String> = owners.iter().map(Owner::key).collect();
                let rows = sqlx::query_as::<_, (String, i64, bool)>($dialect::OWNER_STATES)
                    .bind(serde_json::to_string(&keys).unwrap_or_default())
                    .fetch_all(&self.pool)
                    .await?;
                let found: std::collections::HashMap<String, (i64, bool)> = rows
                    .into_iter()
                    .map(|(key, version, can_proxy)| (key, (version, can_proxy)))
                    .collect();
                Ok(keys
                    .iter()
                    .map(|key| {
                        let (version, can_proxy) = found.get(key).copied().unwrap_or((0, false));
                        OwnerState { version, can_proxy }
                    })
                    .collect())
            }

            async fn dataset(&self, id: &str) -> StoreResult<Option<$crate::domain::dataset::Dataset>> {
                sqlx::query_as::<_, DatasetRow>(sql::DATASET)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.into_domain().map(|(_, dataset)| dataset))
                    .transpose()
            }

            async fn list_datasets(
                &self,
                after: Option<Seq>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, $crate::domain::dataset::Dataset)>> {
                sqlx::query_as::<_, DatasetRow>(sql::LIST_DATASETS)
                    .bind(after.unwrap_or(0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(DatasetRow::into_domain)
                    .collect()
            }

            async fn license(&self, id: &str) -> StoreResult<Option<$crate::domain::dataset::License>> {
                sqlx::query_as::<_, LicenseRow>(sql::LICENSE)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.into_domain().map(|(_, license)| license))
                    .transpose()
            }

            async fn list_licenses(
                &self,
                after: Option<Seq>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, $crate::domain::dataset::License)>> {
                sqlx::query_as::<_, LicenseRow>(sql::LIST_LICENSES)
                    .bind(after.unwrap_or(0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(LicenseRow::into_domain)
                    .collect()
            }

            async fn latest_build(&self, license: &str) -> StoreResult<Option<$crate::store::StoredBuild>> {
                let row = sqlx::query_as::<
                    _,
                    (
                        String,
                        String,
                        chrono::DateTime<chrono::Utc>,
                        chrono::DateTime<chrono::Utc>,
                        String,
                        Option<String>,
                        Option<i64>,
                    ),
                >(sql::LATEST_BUILD)
                .bind(license)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id, license, built_at, expires_at, manifest, published, log_index)| {
                    $crate::store::StoredBuild {
                        id,
                        license,
                        built_at,
                        expires_at,
                        manifest,
                        published,
                        log_index: log_index.and_then(|index| u64::try_from(index).ok()),
                    }
                }))
            }

            async fn dataset_values(
                &self,
                categories: &[$crate::domain::TermId],
                members: &[$crate::domain::MemberId],
            ) -> StoreResult<Vec<(i64, String, String, String)>> {
                let listed: Vec<&str> = categories.iter().map(|term| term.as_str()).collect();
                let listed = serde_json::to_string(&listed).unwrap_or_default();
                let mut values = Vec::new();
                for chunk in members.chunks(20_000) {
                    let ids: Vec<&str> = chunk.iter().map(|id| id.as_str()).collect();
                    values.extend(
                        sqlx::query_as::<_, (i64, String, String, String)>($dialect::DATASET_VALUES)
                            .bind(listed.as_str())
                            .bind(serde_json::to_string(&ids).unwrap_or_default())
                            .fetch_all(&self.pool)
                            .await?,
                    );
                }
                Ok(values)
            }

            async fn builds_of(&self, member: &$crate::domain::MemberId) -> StoreResult<Vec<$crate::store::CountedIn>> {
                let rows = sqlx::query_as::<
                    _,
                    (String, String, String, String, String, chrono::DateTime<chrono::Utc>, Option<i64>),
                >(sql::BUILDS_OF_MEMBER)
                .bind(member.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(build, dataset, dataset_name, definition, licensee, built_at, log_index)| {
                        $crate::store::CountedIn {
                            build,
                            dataset,
                            dataset_name,
                            definition,
                            licensee,
                            built_at,
                            log_index: log_index.and_then(|index| u64::try_from(index).ok()),
                        }
                    })
                    .collect())
            }

            async fn dataset_chores_due(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<bool> {
                Ok(sqlx::query_scalar::<_, bool>(sql::BUILD_ROWS_DUE)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn consent_changes(
                &self,
                since: u64,
            ) -> StoreResult<Option<$crate::store::ConsentChanges>> {
                self.sync_feed().await?;
                Ok(self.mirror.as_ref().and_then(|mirror| mirror.consent_changes(since)))
            }

            async fn rules_and_delegations_of(
                &self,
                members: &[$crate::domain::MemberId],
            ) -> StoreResult<(Vec<Rule>, Vec<$crate::domain::Delegation>)> {
                let (mut rules, mut delegations) = (Vec::new(), Vec::new());
                for chunk in members.chunks($crate::store::BULK_ROWS) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(sql::RULES_OF_MEMBERS_IN);
                    let mut ids = query.separated(", ");
                    for member in chunk {
                        ids.push_bind(member.as_str());
                    }
                    query.push(") ORDER BY seq");
                    for row in query.build_query_as::<RuleRow>().fetch_all(&self.pool).await? {
                        rules.push(row.into_domain()?);
                    }
                    let mut query = sqlx::QueryBuilder::<$db>::new(sql::DELEGATIONS_OF_MEMBERS_IN);
                    let mut ids = query.separated(", ");
                    for member in chunk {
                        ids.push_bind(member.as_str());
                    }
                    query.push(") ORDER BY seq");
                    for row in query.build_query_as::<DelegationRow>().fetch_all(&self.pool).await? {
                        delegations.push(row.into_domain()?);
                    }
                }
                Ok((rules, delegations))
            }

            async fn cohort_candidates(&self) -> StoreResult<Vec<$crate::store::Candidate>> {
                if let Some(candidates) = self.mirror.as_ref().and_then(|mirror| mirror.cohort_candidates()) {
                    return Ok(candidates);
                }
                Ok(sqlx::query_as::<_, (String, i64, bool)>(sql::COHORT_CANDIDATES)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|(id, version, accepts_delegations)| $crate::store::Candidate {
                        id: $crate::domain::MemberId::from_trusted(id),
                        version,
                        accepts_delegations,
                    })
                    .collect())
            }

            async fn bulk_load(&self, bulk: Bulk) -> StoreResult<()> {
                self.in_own_task(self.clone().bulk_load_now(bulk)).await
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> StoreResult<Option<($crate::domain::ThirdParty, String)>> {
                let Some(row) = sqlx::query_as::<_, ThirdPartyRow>(sql::SELECT_CLIENT)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let (_, third_party) = row.into_domain()?;
                let hash: String = sqlx::query_scalar(sql::SELECT_CLIENT_SECRET_HASH)
                    .bind(third_party.id.as_str())
                    .fetch_one(&self.pool)
                    .await?;
                Ok(Some((third_party, hash)))
            }

            async fn issue_access_token(
                &self,
                token: &$crate::credentials::TokenHash,
                third_party: &$crate::domain::ThirdPartyId,
                now: chrono::DateTime<chrono::Utc>,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                let (pool, token, third_party) =
                    (self.pool.clone(), token.clone(), third_party.clone());
                self.in_own_task(async move {
                    let mut tx = pool.begin().await?;
                    sqlx::query(sql::DELETE_EXPIRED_ACCESS_TOKENS)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(sql::INSERT_ACCESS_TOKEN)
                        .bind(token.as_bytes())
                        .bind(third_party.as_str())
                        .bind(now)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_write)?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn third_party_by_token(
                &self,
                token: &$crate::credentials::TokenHash,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<Option<$crate::domain::ThirdParty>> {
                let calls = self.mirror.as_deref().and_then($crate::store::mirror::Mirror::call_cache);
                if let Some(known) = calls.and_then(|calls| calls.token(token, now)) {
                    return Ok(Some(known));
                }
                let generation = calls.map($crate::store::cache::CallCache::generation);
                let found = sqlx::query_as::<_, ThirdPartyRow>(sql::THIRD_PARTY_BY_TOKEN)
                    .bind(token.as_bytes())
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.into_domain().map(|(_, third_party)| third_party))
                    .transpose()?;
                if let (Some(calls), Some(generation), Some(third_party)) = (calls, generation, &found) {
                    let expires_at = sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
                        sql::ACCESS_TOKEN_EXPIRY,
                    )
                    .bind(token.as_bytes())
                    .fetch_optional(&self.pool)
                    .await?;
                    if let Some(expires_at) = expires_at {
                        calls.remember_token(generation, token, third_party.clone(), expires_at);
                    }
                }
                Ok(found)
            }

            async fn put_data(
                &self,
                member: &$crate::domain::MemberId,
                category: &str,
                value: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                // In the store's own task: once it commits, the memory of
                // the member's data is forgotten before anyone is told,
                // even when the caller stopped waiting.
                let pool = self.pool.clone();
                let mirror = self.mirror.clone();
                let limit = self.limits.data_bytes_per_member;
                let (member, category, value) =
                    (member.clone(), category.to_owned(), value.to_owned());
                self.in_own_task(async move {
                    let mut tx = pool.begin().await?;
                    if let Some(statement) = $dialect::LOCK_MEMBER {
                        sqlx::query(statement)
                            .bind(member.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    let stored = sqlx::query(sql::PUT_DATA_WITHIN)
                        .bind(member.as_str())
                        .bind(category.as_str())
                        .bind(value.as_str())
                        .bind(now)
                        .bind(i64::try_from(value.len()).unwrap_or(i64::MAX))
                        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_write)?
                        .rows_affected();
                    if stored == 0 {
                        if Self::count(&mut *tx, sql::MEMBER_IN_COOP, &[member.as_str()]).await? == 0 {
                            return Err(StoreError::MemberGone);
                        }
                        return Err(StoreError::OverLimit {
                            what: "bytes of data of one member",
                            limit,
                        });
                    }
                    let committed = tx.commit().await;
                    // Committed or not (a failed commit may still have
                    // landed), what memory held of it is now unknown.
                    if let Some(mirror) = &mirror {
                        mirror.calls().forget_data(&member);
                    }
                    Ok(committed?)
                })
                .await
            }

            async fn data_of(
                &self,
                member: &$crate::domain::MemberId,
            ) -> StoreResult<Vec<(String, String)>> {
                let calls = self.mirror.as_deref().and_then($crate::store::mirror::Mirror::call_cache);
                if let Some(known) = calls.and_then(|calls| calls.data(member)) {
                    return Ok(known.as_ref().clone());
                }
                let generation = calls.map($crate::store::cache::CallCache::generation);
                let mut data = sqlx::query_as::<_, (String, String)>(sql::DATA_OF)
                    .bind(member.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                // By code point on both databases: PostgreSQL's ORDER BY
                // follows the database's collation, which may not.
                data.sort_unstable_by(|left, right| left.0.cmp(&right.0));
                if let (Some(calls), Some(generation)) = (calls, generation) {
                    calls.remember_data(generation, member, std::sync::Arc::new(data.clone()));
                }
                Ok(data)
            }

            async fn log_size(&self) -> StoreResult<u64> {
                let size: i64 = sqlx::query_scalar(sql::LOG_SIZE).fetch_one(&self.pool).await?;
                u64::try_from(size).map_err(|_| StoreError::Corrupt("negative log size".into()))
            }

            async fn log_entry(&self, index: u64) -> StoreResult<Option<(String, Vec<u8>)>> {
                let Ok(index) = i64::try_from(index) else {
                    return Ok(None);
                };
                Ok(sqlx::query_as::<_, (String, Vec<u8>)>(sql::LOG_ENTRY)
                    .bind(index)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn log_entries(&self, from: u64, limit: u32) -> StoreResult<Vec<(u64, Vec<u8>)>> {
                let from = i64::try_from(from).unwrap_or(i64::MAX);
                let rows = sqlx::query_as::<_, (i64, Vec<u8>)>(sql::LOG_ENTRIES_FROM)
                    .bind(from)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(index, body)| {
                        u64::try_from(index)
                            .map(|index| (index, body))
                            .map_err(|_| StoreError::Corrupt("negative log index".into()))
                    })
                    .collect()
            }

            async fn signed_checkpoint(&self) -> StoreResult<Option<(u64, String)>> {
                let row = sqlx::query_as::<_, (i64, String)>(sql::SIGNED_CHECKPOINT)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(size, note)| {
                    u64::try_from(size)
                        .map(|size| (size, note))
                        .map_err(|_| StoreError::Corrupt("negative checkpoint size".into()))
                })
                .transpose()
            }

            async fn advance_checkpoint(
                &self,
                previous: Option<u64>,
                size: u64,
                note: &str,
            ) -> StoreResult<bool> {
                let size = i64::try_from(size)
                    .map_err(|_| StoreError::Corrupt("checkpoint size out of range".into()))?;
                let done = match previous {
                    None => {
                        sqlx::query(sql::FIRST_CHECKPOINT)
                            .bind(size)
                            .bind(note)
                            .execute(&self.pool)
                            .await?
                    }
                    Some(previous) => {
                        let previous = i64::try_from(previous).map_err(|_| {
                            StoreError::Corrupt("checkpoint size out of range".into())
                        })?;
                        sqlx::query(sql::NEXT_CHECKPOINT)
                            .bind(size)
                            .bind(note)
                            .bind(previous)
                            .execute(&self.pool)
                            .await?
                    }
                };
                Ok(done.rows_affected() == 1)
            }

            async fn log_hashes(
                &self,
                indexes: &[u64],
            ) -> StoreResult<std::collections::HashMap<u64, $crate::audit::tree::Hash>> {
                let mut known = std::collections::HashMap::new();
                let wanted: Vec<i64> = indexes
                    .iter()
                    .filter_map(|index| i64::try_from(*index).ok())
                    .collect();
                for chunk in wanted.chunks($crate::store::BULK_ROWS) {
                    known.extend(Self::read_hashes(&self.pool, chunk).await?);
                }
                Ok(known)
            }

            async fn log_about(
                &self,
                member: &$crate::domain::MemberId,
                after: Option<u64>,
                limit: u32,
            ) -> StoreResult<Vec<$crate::store::LoggedEntry>> {
                let after = after.map_or(Ok(-1), i64::try_from).unwrap_or(i64::MAX);
                let rows = sqlx::query_as::<_, (i64, String, chrono::DateTime<chrono::Utc>)>(
                    sql::LOG_ABOUT,
                )
                .bind(member.as_str())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(index, kind, at)| {
                        let index = u64::try_from(index)
                            .map_err(|_| StoreError::Corrupt("negative log index".into()))?;
                        Ok($crate::store::LoggedEntry { index, kind, at })
                    })
                    .collect()
            }

            async fn connect(
                &self,
                member: &$crate::domain::MemberId,
                third_party: &$crate::domain::ThirdPartyId,
                subject: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<String> {
                let mut tx = self.pool.begin().await?;
                if let Some(statement) = $dialect::LOCK_MEMBER {
                    sqlx::query(statement).bind(member.as_str()).execute(&mut *tx).await?;
                }
                sqlx::query(sql::INSERT_CONNECTION)
                    .bind(member.as_str())
                    .bind(third_party.as_str())
                    .bind(subject)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                let subject = sqlx::query_scalar::<_, String>(sql::SELECT_CONNECTION)
                    .bind(member.as_str())
                    .bind(third_party.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::MemberGone)?;
                tx.commit().await?;
                Ok(subject)
            }

            async fn connections_of(
                &self,
                member: &$crate::domain::MemberId,
            ) -> StoreResult<Vec<(String, String)>> {
                Ok(sqlx::query_as::<_, (String, String)>(sql::CONNECTIONS_OF)
                    .bind(member.as_str())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn sign_in_link(
                &self,
                token: &$crate::credentials::TokenHash,
            ) -> StoreResult<Option<(Option<$crate::domain::MemberId>, chrono::DateTime<chrono::Utc>)>> {
                let row = sqlx::query_as::<_, (Option<String>, chrono::DateTime<chrono::Utc>)>(sql::SELECT_SIGN_IN_LINK)
                    .bind(token.as_bytes())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(member, expires_at)| (member.map($crate::domain::MemberId::from_trusted), expires_at)))
            }

            async fn web_session(
                &self,
                id: &$crate::credentials::TokenHash,
            ) -> StoreResult<Option<$crate::store::web::WebSession>> {
                sqlx::query_as::<_, $crate::store::rows::WebSessionRow>(sql::SELECT_WEB_SESSION)
                    .bind(id.as_bytes())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::store::rows::WebSessionRow::into_domain)
                    .transpose()
            }

            async fn oidc_flow(
                &self,
                id: &$crate::credentials::TokenHash,
            ) -> StoreResult<Option<$crate::store::web::OidcFlow>> {
                sqlx::query_as::<_, $crate::store::rows::OidcFlowRow>(sql::SELECT_OIDC_FLOW)
                    .bind(id.as_bytes())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::store::rows::OidcFlowRow::into_domain)
                    .transpose()
            }

            async fn member_by_identity(
                &self,
                identity: &$crate::store::web::Identity,
            ) -> StoreResult<Option<$crate::domain::MemberId>> {
                Ok(sqlx::query_scalar::<_, String>(sql::MEMBER_BY_IDENTITY)
                    .bind(identity.issuer.as_str())
                    .bind(identity.subject.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::domain::MemberId::from_trusted))
            }

            async fn member_by_subject(
                &self,
                third_party: &$crate::domain::ThirdPartyId,
                subject: &str,
            ) -> StoreResult<Option<$crate::domain::MemberId>> {
                let calls = self.mirror.as_deref().and_then($crate::store::mirror::Mirror::call_cache);
                if let Some(known) = calls.and_then(|calls| calls.subject(third_party, subject)) {
                    return Ok(Some(known));
                }
                let generation = calls.map($crate::store::cache::CallCache::generation);
                let found = sqlx::query_scalar::<_, String>(sql::MEMBER_BY_SUBJECT)
                    .bind(third_party.as_str())
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::domain::MemberId::from_trusted);
                if let (Some(calls), Some(generation), Some(member)) = (calls, generation, &found) {
                    calls.remember_subject(generation, third_party, subject, member.clone());
                }
                Ok(found)
            }

            async fn next_commit(&self) {
                self.group.next_commit().await;
            }

            async fn fold_recipients(&self, limit: u32) -> StoreResult<u64> {
                let (last, through): (i64, i64) = sqlx::query_as(sql::FOLD_PENDING)
                    .fetch_one(&self.pool)
                    .await?;
                if last <= through {
                    return Ok(0);
                }
                match self.apply(Change::Fold { limit }).await?.applied {
                    Applied::Count(read) => Ok(read),
                    _ => Ok(0),
                }
            }

            async fn sweep_rule_instants(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<u64> {
                match self.apply(Change::Sweep { now }).await?.applied {
                    Applied::Count(found) => Ok(found),
                    _ => Ok(0),
                }
            }

            async fn release_leases(&self) -> StoreResult<()> {
                for statement in $dialect::RELEASE_LEASES {
                    sqlx::query(*statement).execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn claim_rechecks(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, Owner)>> {
                // A read first: most rounds find nothing, and a write
                // would take the file's write lock (SQLite) for nothing.
                let due: bool = sqlx::query_scalar(sql::RECHECKS_DUE)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?;
                if !due {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query_as::<_, (Seq, String, String)>($dialect::CLAIM_RECHECKS)
                    .bind(now)
                    .bind(lease_until)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                let mut claimed = rows
                    .into_iter()
                    .map(|(seq, kind, id)| {
                        Owner::from_parts(&kind, id)
                            .map(|owner| (seq, owner))
                            .ok_or_else(|| StoreError::Corrupt(format!("recheck owner `{kind}`")))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                claimed.sort_unstable_by_key(|(seq, _)| *seq);
                Ok(claimed)
            }

            async fn recipients_reached_by(
                &self,
                owner: &Owner,
            ) -> StoreResult<Vec<$crate::store::Recipient>> {
                let query = match owner {
                    Owner::Coop => sqlx::query_as::<_, RecipientRow>(sql::ALL_RECIPIENTS),
                    Owner::Member(_) | Owner::Persona(_) => {
                        sqlx::query_as::<_, RecipientRow>(sql::RECIPIENTS_REACHED)
                            .bind(owner.id())
                            .bind(owner.kind())
                    }
                };
                Ok(query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(RecipientRow::into_domain)
                    .collect())
            }

            async fn unchecked_recipients(
                &self,
                limit: u32,
            ) -> StoreResult<Vec<$crate::store::Recipient>> {
                Ok(sqlx::query_as::<_, RecipientRow>(sql::UNCHECKED_RECIPIENTS)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(RecipientRow::into_domain)
                    .collect())
            }

            async fn claim_events(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> StoreResult<Vec<$crate::store::Outgoing>> {
                let due: bool = sqlx::query_scalar(sql::EVENTS_DUE)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?;
                if !due {
                    return Ok(Vec::new());
                }
                let mut rows = sqlx::query_as::<_, OutgoingRow>($dialect::CLAIM_EVENTS)
                    .bind(now)
                    .bind(lease_until)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.sort_unstable_by_key(|row| row.third_party().to_owned());
                let mut endpoints: std::collections::HashMap<String, Option<(String, String)>> =
                    std::collections::HashMap::new();
                let mut claimed = Vec::with_capacity(rows.len());
                for row in rows {
                    let third_party = row.third_party().to_owned();
                    let endpoint = match endpoints.get(&third_party) {
                        Some(endpoint) => endpoint.clone(),
                        None => {
                            let endpoint = sqlx::query_as::<_, (String, String)>(sql::WEBHOOK_OF)
                                .bind(third_party.as_str())
                                .fetch_optional(&self.pool)
                                .await?;
                            endpoints.insert(third_party, endpoint.clone());
                            endpoint
                        }
                    };
                    claimed.push(row.into_domain(endpoint));
                }
                Ok(claimed)
            }

            async fn record_attempts(
                &self,
                attempts: &[(Seq, $crate::store::Attempt)],
                at: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                use $crate::store::Attempt;
                if attempts.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for (seq, attempt) in attempts {
                    match attempt {
                        Attempt::Delivered => {
                            sqlx::query(sql::DELIVERED).bind(at).bind(*seq).execute(&mut *tx).await?;
                        }
                        Attempt::Retry { next, error, counted } => {
                            sqlx::query(sql::RETRY)
                                .bind(i32::from(*counted))
                                .bind(*next)
                                .bind(error.as_str())
                                .bind(*seq)
                                .execute(&mut *tx)
                                .await?;
                        }
                        Attempt::Gone { next } => {
                            sqlx::query(sql::DISABLE_WEBHOOK).bind(at).bind(*seq).execute(&mut *tx).await?;
                            sqlx::query(sql::RETRY)
                                .bind(1_i32)
                                .bind(*next)
                                .bind("the endpoint answered 410 Gone: disabled until a new URL is set")
                                .bind(*seq)
                                .execute(&mut *tx)
                                .await?;
                        }
                        Attempt::Failed { error } => {
                            sqlx::query(sql::GAVE_UP)
                                .bind(at)
                                .bind(error.as_str())
                                .bind(*seq)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn events(
                &self,
                filter: &$crate::store::EventFilter,
                after: Option<Seq>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, $crate::store::EventRecord)>> {
                use $crate::store::EventFilter;
                let limit = i64::from(limit);
                let query = match filter {
                    EventFilter::Member(member) => sqlx::query_as::<_, EventRow>(sql::EVENTS_OF_MEMBER)
                        .bind(member.as_str())
                        .bind(after.unwrap_or(i64::MAX)),
                    EventFilter::State(state) => sqlx::query_as::<_, EventRow>(sql::EVENTS_IN_STATE)
                        .bind(state.as_str())
                        .bind(after.unwrap_or(0)),
                    EventFilter::UnconfirmedBefore(before) => {
                        sqlx::query_as::<_, EventRow>(sql::EVENTS_UNCONFIRMED)
                            .bind(*before)
                            .bind(after.unwrap_or(0))
                    }
                    EventFilter::All => {
                        sqlx::query_as::<_, EventRow>(sql::ALL_EVENTS).bind(after.unwrap_or(0))
                    }
                };
                query
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(EventRow::into_domain)
                    .collect()
            }

            async fn outbox_stats(&self) -> StoreResult<$crate::store::OutboxStats> {
                let (pending, oldest): (i64, Option<chrono::DateTime<chrono::Utc>>) =
                    sqlx::query_as(sql::OUTBOX_STATS).fetch_one(&self.pool).await?;
                Ok($crate::store::OutboxStats {
                    pending: u64::try_from(pending).unwrap_or_default(),
                    oldest_pending: oldest,
                })
            }

            async fn access_log(
                &self,
                member: &$crate::domain::MemberId,
                before: Option<Seq>,
                limit: u32,
            ) -> StoreResult<Vec<(Seq, AccessRecord)>> {
                sqlx::query_as::<_, AccessRow>(sql::ACCESS_LOG)
                    .bind(member.as_str())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(AccessRow::into_domain)
                    .collect()
            }
        }
    };
}
