//! The one implementation of `Store`, instantiated per database over that
//! database's SQL text (a module of `&'static str` constants) and its
//! embedded migrations. Only the SQL differs between databases.

macro_rules! sql_store {
    ($store:ident, $db:ty, $sql:ident, $migrator:expr) => {
        impl $store {
            /// Inserts rules inside `tx`.
            async fn insert_rules(
                tx: &mut sqlx::Transaction<'static, $db>,
                rules: &[$crate::domain::rule::Rule],
            ) -> $crate::store::StoreResult<()> {
                for rule in rules {
                    let columns = $crate::store::rows::RuleColumns::of(&rule.spec);
                    sqlx::query($sql::INSERT_RULE)
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
                        .execute(&mut **tx)
                        .await
                        .map_err($crate::store::StoreError::from_write)?;
                }
                Ok(())
            }

            /// Bumps `owner`'s policy version in `tx`, commits, and mirrors
            /// the bump: the one way a change to an owner's rules or
            /// delegations becomes visible to the next decision.
            async fn commit_bumping(
                &self,
                mut tx: sqlx::Transaction<'static, $db>,
                owner: &$crate::domain::rule::Owner,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query($sql::BUMP_POLICY_VERSION)
                    .bind(owner.kind())
                    .bind(owner.id())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if let Some(mirror) = &self.mirror {
                    mirror.bump(owner);
                }
                Ok(())
            }

            /// Fills the mirror (SQLite) from the database.
            async fn load_mirror(&self) -> $crate::store::StoreResult<()> {
                if let Some(mirror) = &self.mirror {
                    let third_parties =
                        sqlx::query_as::<_, (String, String, String)>($sql::ALL_THIRD_PARTY_FACTS)
                            .fetch_all(&self.pool)
                            .await?
                            .into_iter()
                            .map(|(id, class, status)| {
                                let class = $crate::domain::RequesterClass::parse(&class)
                                    .ok_or_else(|| {
                                        $crate::store::StoreError::Corrupt(format!(
                                            "third-party class `{class}`"
                                        ))
                                    })?;
                                let status = $crate::domain::ThirdPartyStatus::parse(&status)
                                    .ok_or_else(|| {
                                        $crate::store::StoreError::Corrupt(format!(
                                            "third-party status `{status}`"
                                        ))
                                    })?;
                                Ok((id, class, status))
                            })
                            .collect::<$crate::store::StoreResult<Vec<_>>>()?;
                    let members = sqlx::query_as::<_, (String, bool)>($sql::ALL_ACTIVE_MEMBER_IDS)
                        .fetch_all(&self.pool)
                        .await?;
                    let personas = sqlx::query_scalar::<_, String>($sql::ALL_PERSONA_IDS)
                        .fetch_all(&self.pool)
                        .await?;
                    let versions = $crate::store::Store::all_policy_versions(self).await?;
                    mirror.load(third_parties, members, personas, versions);
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn migrate(&self) -> $crate::store::StoreResult<()> {
                $migrator.run(&self.pool).await?;
                self.load_mirror().await?;
                Ok(())
            }

            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn setting(&self, key: &str) -> $crate::store::StoreResult<Option<String>> {
                Ok(sqlx::query_scalar::<_, String>($sql::SELECT_SETTING)
                    .bind(key)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next())
            }

            async fn insert_setting_if_absent(
                &self,
                key: &str,
                value: &str,
            ) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query($sql::INSERT_SETTING_IF_ABSENT)
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_member(
                &self,
                member: &$crate::domain::Member,
                token: &$crate::credentials::TokenHash,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query($sql::INSERT_MEMBER)
                    .bind(member.id.as_str())
                    .bind(
                        member
                            .display_name
                            .as_ref()
                            .map($crate::domain::DisplayName::as_str),
                    )
                    .bind(member.registry.as_str())
                    .bind(member.accepts_delegations)
                    .bind(member.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                sqlx::query($sql::INSERT_MEMBER_TOKEN)
                    .bind(token.as_bytes())
                    .bind(member.id.as_str())
                    .bind(member.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                tx.commit().await?;
                if let Some(mirror) = &self.mirror {
                    mirror.member_joined(&member.id, member.accepts_delegations);
                }
                Ok(())
            }

            async fn member(
                &self,
                id: &$crate::domain::MemberId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Member>> {
                sqlx::query_as::<_, $crate::store::rows::MemberRow>($sql::SELECT_MEMBER)
                    .bind(id.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next()
                    .map(|row| row.into_domain().map(|(_, member)| member))
                    .transpose()
            }

            async fn member_by_token(
                &self,
                token: &$crate::credentials::TokenHash,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Member>> {
                sqlx::query_as::<_, $crate::store::rows::MemberRow>($sql::SELECT_MEMBER_BY_TOKEN)
                    .bind(token.as_bytes())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next()
                    .map(|row| row.into_domain().map(|(_, member)| member))
                    .transpose()
            }

            async fn list_members(
                &self,
                after: Option<$crate::store::Seq>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<($crate::store::Seq, $crate::domain::Member)>> {
                sqlx::query_as::<_, $crate::store::rows::MemberRow>($sql::LIST_MEMBERS)
                    .bind(after.unwrap_or(0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::MemberRow::into_domain)
                    .collect()
            }

            async fn update_member(
                &self,
                id: &$crate::domain::MemberId,
                patch: &$crate::domain::MemberPatch,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Member>> {
                let new_name = patch
                    .display_name
                    .as_ref()
                    .and_then(|name| name.as_ref().map($crate::domain::DisplayName::as_str));
                let updated =
                    sqlx::query_as::<_, $crate::store::rows::MemberRow>($sql::UPDATE_MEMBER)
                        .bind(patch.display_name.is_some())
                        .bind(new_name)
                        .bind(patch.registry.map(|registry| registry.as_str()))
                        .bind(patch.accepts_delegations)
                        .bind(id.as_str())
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .next()
                        .map(|row| row.into_domain().map(|(_, member)| member))
                        .transpose()?;
                if let (Some(mirror), Some(member)) = (&self.mirror, &updated) {
                    mirror.member_joined(&member.id, member.accepts_delegations);
                }
                Ok(updated)
            }

            async fn create_third_party(
                &self,
                third_party: &$crate::domain::ThirdParty,
                secret_hash: &str,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query($sql::INSERT_THIRD_PARTY)
                    .bind(third_party.id.as_str())
                    .bind(third_party.name.as_str())
                    .bind(third_party.class.as_str())
                    .bind(third_party.status.as_str())
                    .bind(third_party.webhook_url.as_deref())
                    .bind(third_party.client_id.as_str())
                    .bind(secret_hash)
                    .bind(third_party.created_at)
                    .bind(third_party.updated_at)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                if let Some(mirror) = &self.mirror {
                    mirror.third_party(&third_party.id, third_party.class, third_party.status);
                }
                Ok(())
            }

            async fn third_party(
                &self,
                id: &$crate::domain::ThirdPartyId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::ThirdParty>> {
                sqlx::query_as::<_, $crate::store::rows::ThirdPartyRow>($sql::SELECT_THIRD_PARTY)
                    .bind(id.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next()
                    .map(|row| row.into_domain().map(|(_, third_party)| third_party))
                    .transpose()
            }

            async fn list_third_parties(
                &self,
                after: Option<$crate::store::Seq>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<($crate::store::Seq, $crate::domain::ThirdParty)>>
            {
                sqlx::query_as::<_, $crate::store::rows::ThirdPartyRow>($sql::LIST_THIRD_PARTIES)
                    .bind(after.unwrap_or(0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::ThirdPartyRow::into_domain)
                    .collect()
            }

            async fn set_third_party_status(
                &self,
                id: &$crate::domain::ThirdPartyId,
                status: $crate::domain::ThirdPartyStatus,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::domain::ThirdParty>> {
                let updated = sqlx::query_as::<_, $crate::store::rows::ThirdPartyRow>(
                    $sql::UPDATE_THIRD_PARTY_STATUS,
                )
                .bind(status.as_str())
                .bind(now)
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .next()
                .map(|row| row.into_domain().map(|(_, third_party)| third_party))
                .transpose()?;
                if let (Some(mirror), Some(third_party)) = (&self.mirror, &updated) {
                    mirror.third_party(&third_party.id, third_party.class, third_party.status);
                }
                Ok(updated)
            }
            async fn create_rules(
                &self,
                owner: &$crate::domain::rule::Owner,
                rules: &[$crate::domain::rule::Rule],
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                Self::insert_rules(&mut tx, rules).await?;
                self.commit_bumping(tx, owner).await
            }

            async fn delete_rule(
                &self,
                owner: &$crate::domain::rule::Owner,
                id: &$crate::domain::RuleId,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let deleted = sqlx::query($sql::DELETE_RULE)
                    .bind(id.as_str())
                    .bind(owner.kind())
                    .bind(owner.id())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                self.commit_bumping(tx, owner).await?;
                Ok(true)
            }

            async fn rules_of(
                &self,
                owner: &$crate::domain::rule::Owner,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::rule::Rule>> {
                sqlx::query_as::<_, $crate::store::rows::RuleRow>($sql::RULES_OF)
                    .bind(owner.kind())
                    .bind(owner.id())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::RuleRow::into_domain)
                    .collect()
            }

            async fn all_rules(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::rule::Rule>> {
                sqlx::query_as::<_, $crate::store::rows::RuleRow>($sql::ALL_RULES)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::RuleRow::into_domain)
                    .collect()
            }

            async fn all_policy_versions(
                &self,
            ) -> $crate::store::StoreResult<Vec<($crate::domain::rule::Owner, i64)>> {
                sqlx::query_as::<_, $crate::store::rows::VersionRow>($sql::ALL_POLICY_VERSIONS)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::VersionRow::into_domain)
                    .collect()
            }

            async fn decision_facts(
                &self,
                requester: Option<&$crate::domain::ThirdPartyId>,
                member: Option<&$crate::domain::MemberId>,
            ) -> $crate::store::StoreResult<$crate::store::DecisionFacts> {
                if let Some(facts) = self
                    .mirror
                    .as_ref()
                    .and_then(|mirror| mirror.facts(requester, member))
                {
                    return Ok(facts);
                }
                sqlx::query_as::<_, $crate::store::rows::FactsRow>($sql::DECISION_FACTS)
                    .bind(requester.map_or("", |id| id.as_str()))
                    .bind(member.map_or("", |id| id.as_str()))
                    .fetch_one(&self.pool)
                    .await?
                    .into_domain()
            }

            async fn create_persona(
                &self,
                persona: &$crate::domain::Persona,
                rules: &[$crate::domain::rule::Rule],
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query($sql::INSERT_PERSONA)
                    .bind(persona.id.as_str())
                    .bind(persona.name.as_str())
                    .bind(persona.description.as_str())
                    .bind(persona.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                let owner = $crate::domain::rule::Owner::Persona(persona.id.clone());
                Self::insert_rules(&mut tx, rules).await?;
                self.commit_bumping(tx, &owner).await?;
                if let Some(mirror) = &self.mirror {
                    mirror.persona_published(&persona.id);
                }
                Ok(())
            }

            async fn personas(&self) -> $crate::store::StoreResult<Vec<$crate::domain::Persona>> {
                Ok(
                    sqlx::query_as::<_, $crate::store::rows::PersonaRow>($sql::LIST_PERSONAS)
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map($crate::store::rows::PersonaRow::into_domain)
                        .collect(),
                )
            }

            async fn create_delegation(
                &self,
                delegation: &$crate::domain::Delegation,
            ) -> $crate::store::StoreResult<$crate::domain::Delegation> {
                let owner = $crate::domain::rule::Owner::Member(delegation.member.clone());
                let mut tx = self.pool.begin().await?;
                let seq: Option<i64> = sqlx::query_scalar($sql::INSERT_DELEGATION)
                    .bind(delegation.id.as_str())
                    .bind(delegation.member.as_str())
                    .bind(delegation.proxy.kind())
                    .bind(delegation.proxy.id())
                    .bind($crate::store::rows::term_list(
                        &delegation.scope.data_categories,
                    ))
                    .bind($crate::store::rows::term_list(&delegation.scope.purposes))
                    .bind(delegation.scope.key())
                    .bind(delegation.created_at)
                    .bind(delegation.cedar.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::from_write)?
                    .into_iter()
                    .next();
                let seq = seq.ok_or_else(|| $crate::store::StoreError::Corrupt("no sequence for a new delegation".to_owned()))?;
                self.commit_bumping(tx, &owner).await?;
                Ok($crate::domain::Delegation {
                    seq,
                    ..delegation.clone()
                })
            }

            async fn delete_delegation(
                &self,
                member: &$crate::domain::MemberId,
                id: &$crate::domain::DelegationId,
            ) -> $crate::store::StoreResult<bool> {
                let owner = $crate::domain::rule::Owner::Member(member.clone());
                let mut tx = self.pool.begin().await?;
                let deleted = sqlx::query($sql::DELETE_DELEGATION)
                    .bind(id.as_str())
                    .bind(member.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                self.commit_bumping(tx, &owner).await?;
                Ok(true)
            }

            async fn delegations_of(
                &self,
                member: &$crate::domain::MemberId,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delegation>> {
                sqlx::query_as::<_, $crate::store::rows::DelegationRow>($sql::DELEGATIONS_OF)
                    .bind(member.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::DelegationRow::into_domain)
                    .collect()
            }

            async fn all_delegations(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delegation>> {
                sqlx::query_as::<_, $crate::store::rows::DelegationRow>($sql::ALL_DELEGATIONS)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::DelegationRow::into_domain)
                    .collect()
            }

            async fn delegators(
                &self,
                proxy: &$crate::domain::rule::Owner,
            ) -> $crate::store::StoreResult<(u64, Vec<$crate::domain::MemberId>)> {
                let rows = sqlx::query_as::<_, (String, String)>($sql::DELEGATORS)
                    .bind(proxy.kind())
                    .bind(proxy.id())
                    .fetch_all(&self.pool)
                    .await?;
                let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
                let public = rows
                    .into_iter()
                    .filter(|(_, registry)| registry == "public")
                    .map(|(id, _)| $crate::domain::MemberId::from_trusted(id))
                    .collect();
                Ok((count, public))
            }

            async fn owner_states(
                &self,
                owners: &[$crate::domain::rule::Owner],
            ) -> $crate::store::StoreResult<Vec<$crate::store::OwnerState>> {
                if let Some(states) = self
                    .mirror
                    .as_ref()
                    .and_then(|mirror| mirror.owner_states(owners))
                {
                    return Ok(states);
                }
                let keys: Vec<String> = owners
                    .iter()
                    .map($crate::domain::rule::Owner::key)
                    .collect();
                let rows = sqlx::query_as::<_, (String, i64, bool)>($sql::OWNER_STATES)
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
                        $crate::store::OwnerState { version, can_proxy }
                    })
                    .collect())
            }

            async fn leave(
                &self,
                member: &$crate::domain::MemberId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                let owner = $crate::domain::rule::Owner::Member(member.clone());
                let mut tx = self.pool.begin().await?;
                let left = sqlx::query($sql::MARK_LEFT)
                    .bind(now)
                    .bind(member.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if left == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                for statement in [$sql::DELETE_TOKENS_OF, $sql::DELETE_DELEGATIONS_OF, $sql::DELETE_DATA_OF, $sql::DELETE_CONNECTIONS_OF] {
                    sqlx::query(statement)
                        .bind(member.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query($sql::DELETE_RULES_OF)
                    .bind(owner.kind())
                    .bind(owner.id())
                    .execute(&mut *tx)
                    .await?;
                self.commit_bumping(tx, &owner).await?;
                if let Some(mirror) = &self.mirror {
                    mirror.member_left(member);
                }
                // Erased means erased: copy the WAL back and truncate it, so
                // no older page with the data stays on disk (SQLite).
                if let Some(statement) = $sql::AFTER_ERASURE {
                    sqlx::query(statement).execute(&self.pool).await?;
                }
                Ok(true)
            }

            async fn bulk_load(&self, bulk: &$crate::store::Bulk) -> $crate::store::StoreResult<()> {
                use $crate::store::BULK_ROWS;
                let mut tx = self.pool.begin().await?;
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
                    .map_err($crate::store::StoreError::from_write)?;
                }
                for (third_party, secret_hash) in &bulk.third_parties {
                    sqlx::query($sql::INSERT_THIRD_PARTY)
                        .bind(third_party.id.as_str())
                        .bind(third_party.name.as_str())
                        .bind(third_party.class.as_str())
                        .bind(third_party.status.as_str())
                        .bind(third_party.webhook_url.as_deref())
                        .bind(third_party.client_id.as_str())
                        .bind(secret_hash.as_str())
                        .bind(third_party.created_at)
                        .bind(third_party.updated_at)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::from_write)?;
                }
                for persona in &bulk.personas {
                    sqlx::query($sql::INSERT_PERSONA)
                        .bind(persona.id.as_str())
                        .bind(persona.name.as_str())
                        .bind(persona.description.as_str())
                        .bind(persona.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::from_write)?;
                }
                for chunk in bulk.rules.chunks(BULK_ROWS) {
                    sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO rules (id, owner_kind, owner_id, effect, action, requester_kind, requester_value, \
                         data_categories, purposes, not_before, expires_at, created_at, cedar) ",
                    )
                    .push_values(chunk, |mut row, rule| {
                        let columns = $crate::store::rows::RuleColumns::of(&rule.spec);
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
                    .map_err($crate::store::StoreError::from_write)?;
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
                    .map_err($crate::store::StoreError::from_write)?;
                }
                for chunk in bulk.versions.chunks(BULK_ROWS) {
                    sqlx::QueryBuilder::<$db>::new("INSERT INTO policy_versions (owner_kind, owner_id, version) ")
                        .push_values(chunk, |mut row, (owner, version)| {
                            row.push_bind(owner.kind()).push_bind(owner.id().to_owned()).push_bind(*version);
                        })
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::from_write)?;
                }
                tx.commit().await?;
                self.load_mirror().await
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> $crate::store::StoreResult<Option<($crate::domain::ThirdParty, String)>> {
                let Some(row) = sqlx::query_as::<_, $crate::store::rows::ThirdPartyRow>($sql::SELECT_CLIENT)
                    .bind(client_id)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next()
                else {
                    return Ok(None);
                };
                let (_, third_party) = row.into_domain()?;
                let hash: String = sqlx::query_scalar($sql::SELECT_CLIENT_SECRET_HASH)
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
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query($sql::DELETE_EXPIRED_ACCESS_TOKENS).bind(now).execute(&mut *tx).await?;
                sqlx::query($sql::INSERT_ACCESS_TOKEN)
                    .bind(token.as_bytes())
                    .bind(third_party.as_str())
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                tx.commit().await?;
                Ok(())
            }

            async fn third_party_by_token(
                &self,
                token: &$crate::credentials::TokenHash,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::domain::ThirdParty>> {
                sqlx::query_as::<_, $crate::store::rows::ThirdPartyRow>($sql::THIRD_PARTY_BY_TOKEN)
                    .bind(token.as_bytes())
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next()
                    .map(|row| row.into_domain().map(|(_, third_party)| third_party))
                    .transpose()
            }

            async fn rotate_secret(
                &self,
                id: &$crate::domain::ThirdPartyId,
                secret_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::domain::ThirdParty>> {
                let mut tx = self.pool.begin().await?;
                let row = sqlx::query_as::<_, $crate::store::rows::ThirdPartyRow>($sql::ROTATE_SECRET)
                    .bind(secret_hash)
                    .bind(now)
                    .bind(id.as_str())
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .next();
                let Some(row) = row else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                sqlx::query($sql::DELETE_ACCESS_TOKENS_OF).bind(id.as_str()).execute(&mut *tx).await?;
                tx.commit().await?;
                row.into_domain().map(|(_, third_party)| Some(third_party))
            }

            async fn put_data(
                &self,
                member: &$crate::domain::MemberId,
                category: &str,
                value: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query($sql::PUT_DATA)
                    .bind(member.as_str())
                    .bind(category)
                    .bind(value)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                Ok(())
            }

            async fn data_of(&self, member: &$crate::domain::MemberId) -> $crate::store::StoreResult<Vec<(String, String)>> {
                Ok(sqlx::query_as::<_, (String, String)>($sql::DATA_OF)
                    .bind(member.as_str())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn connect(
                &self,
                member: &$crate::domain::MemberId,
                third_party: &$crate::domain::ThirdPartyId,
                subject: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<String> {
                sqlx::query($sql::INSERT_CONNECTION)
                    .bind(member.as_str())
                    .bind(third_party.as_str())
                    .bind(subject)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::from_write)?;
                Ok(sqlx::query_scalar::<_, String>($sql::SELECT_CONNECTION)
                    .bind(member.as_str())
                    .bind(third_party.as_str())
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn connections_of(&self, member: &$crate::domain::MemberId) -> $crate::store::StoreResult<Vec<(String, String)>> {
                Ok(sqlx::query_as::<_, (String, String)>($sql::CONNECTIONS_OF)
                    .bind(member.as_str())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn member_by_subject(
                &self,
                third_party: &$crate::domain::ThirdPartyId,
                subject: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::MemberId>> {
                Ok(sqlx::query_scalar::<_, String>($sql::MEMBER_BY_SUBJECT)
                    .bind(third_party.as_str())
                    .bind(subject)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next()
                    .map($crate::domain::MemberId::from_trusted))
            }

            async fn log_access(&self, entry: &$crate::store::AccessRecord) -> $crate::store::StoreResult<()> {
                let action = match entry.action {
                    datacoop_wire::Action::Access => "access",
                    datacoop_wire::Action::Aggregate => "aggregate",
                };
                let decision = match entry.decision {
                    datacoop_wire::Verdict::Allow => "allow",
                    datacoop_wire::Verdict::Deny => "deny",
                };
                sqlx::query($sql::LOG_ACCESS)
                    .bind(entry.member.as_str())
                    .bind(entry.third_party.as_str())
                    .bind(entry.purpose.as_str())
                    .bind(action)
                    .bind(decision)
                    .bind(serde_json::to_string(&entry.categories).unwrap_or_default())
                    .bind(entry.at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn access_log(
                &self,
                member: &$crate::domain::MemberId,
                before: Option<$crate::store::Seq>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<($crate::store::Seq, $crate::store::AccessRecord)>> {
                sqlx::query_as::<_, $crate::store::rows::AccessRow>($sql::ACCESS_LOG)
                    .bind(member.as_str())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::store::rows::AccessRow::into_domain)
                    .collect()
            }
        }
    };
}
