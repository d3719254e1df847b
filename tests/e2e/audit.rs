//! The verifiable log through the real binary (issue 9): receipts on
//! every write, `datacoop audit verify` and `check-db` catching a changed
//! or deleted row, kill -9 in the middle of concurrent writes losing
//! nothing acknowledged (SQLite and PostgreSQL), two brokers on one
//! PostgreSQL writing one linear history, and entries that a member reads
//! only when they are about them and that never hold a name or a datum.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use datacoop_sdk::wire::{
    AccessRequest, CreateMember, CreateThirdParty, Effect, Registry, RequesterClass,
    RequesterSelector, RuleAction, RuleBody,
};
use datacoop_sdk::{Client, LOG_INDEX_HEADER, ThirdPartyClient};
use datacoop_tests::{Broker, BrokerOptions, TestPostgres, run_datacoop};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::{SqliteBroker, client, sqlite_url};

const ADMIN: &str = "audit-admin-token-0123456789-abcdefghijklmnop";

fn rule(category: &str) -> RuleBody {
    RuleBody {
        effect: Effect::Allow,
        action: RuleAction::Access,
        requester: RequesterSelector::Class("academic".into()),
        data_categories: vec![category.into()],
        purposes: vec!["research".into()],
        not_before: None,
        expires_at: None,
    }
}

async fn enrol(admin: &Client, name: Option<&str>) -> (String, String, u64) {
    let created = admin
        .create_member(&CreateMember {
            display_name: name.map(str::to_owned),
            registry: Registry::Public,
        })
        .await
        .unwrap();
    (created.id, created.token, created.log_index.unwrap())
}

/// The entry at `index`, read by the stewards, as JSON.
async fn entry(admin: &Client, index: u64) -> Value {
    serde_json::from_slice(&admin.audit_entry(index).await.unwrap()).unwrap()
}

/// Runs `datacoop audit ARGS` with `env`; its exit status and output.
async fn audit(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let output = run_datacoop(&all, env).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn verify(base_url: &str, state: &Path, token: Option<&str>) -> (bool, String) {
    let state = state.display().to_string();
    let mut args = vec!["verify", "--url", base_url, "--state", &state];
    if let Some(token) = token {
        args.extend(["--token", token]);
    }
    audit(&args, &[]).await
}

async fn check_db(database_url: &str) -> (bool, String) {
    audit(&["check-db"], &[("DATACOOP_DATABASE_URL", database_url)]).await
}

#[tokio::test]
async fn every_write_answers_its_receipt_and_verify_and_check_db_catch_a_changed_or_deleted_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let options = || BrokerOptions::new(&url).env("DATACOOP_ADMIN_TOKEN", ADMIN);
    let broker = Broker::start(options()).await;
    let admin = client(&broker).with_token(ADMIN);
    let (ada_id, ada_token, joined) = enrol(&admin, Some("Ada")).await;
    let ada = client(&broker).with_token(&ada_token);
    let created = ada.create_my_rule(&rule("health")).await.unwrap();
    let rule_index = created.log_index.unwrap();
    assert_eq!(rule_index, joined + 1);
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    assert_eq!(lab.log_index, Some(rule_index + 1));
    // The header and the field say the same; a 204 carries the header.
    let raw = reqwest::Client::new()
        .delete(format!("{}/v1/me/rules/{}", broker.base_url, created.id))
        .bearer_auth(&ada_token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 204);
    let deleted = raw.headers()[LOG_INDEX_HEADER].to_str().unwrap().to_owned();
    assert_eq!(deleted, (rule_index + 2).to_string());
    let subject = ada.connect(&lab.id).await.unwrap().subject;
    let reader =
        ThirdPartyClient::new(&broker.base_url, &lab.client_id, &lab.client_secret).unwrap();
    let read = reader
        .access(&AccessRequest {
            subject,
            data_categories: vec!["health".into()],
            purpose: "research.academic".into(),
        })
        .await
        .unwrap();
    let access_index = read.log_index.unwrap();
    assert_eq!(access_index, rule_index + 3);
    assert_eq!(entry(&admin, access_index).await["type"], "access");
    assert_eq!(entry(&admin, joined).await["member"], ada_id.as_str());

    // A member's verify: signature, first sight, every entry about Ada.
    let state = dir.path().join("verify.json");
    let (ok, text) = verify(&broker.base_url, &state, Some(&ada_token)).await;
    assert!(ok, "{text}");
    assert!(text.contains("4 entries about you"), "{text}");
    // More writes: the next run checks consistency with what it saw.
    enrol(&admin, None).await;
    let (ok, text) = verify(&broker.base_url, &state, Some(&ada_token)).await;
    assert!(ok, "{text}");
    assert!(text.contains("consistent with the checkpoint of"), "{text}");
    broker.stop().await;
    let (ok, text) = check_db(&url).await;
    assert!(ok, "{text}");

    // A row changed: Ada's rule entry now says something else.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let original: Vec<u8> = sqlx::query_scalar("SELECT body FROM log_entries WHERE idx = ?")
        .bind(i64::try_from(rule_index).unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    let forged = String::from_utf8(original.clone())
        .unwrap()
        .replace("allow", "deny");
    assert_ne!(forged.as_bytes(), original.as_slice());
    sqlx::query("UPDATE log_entries SET body = ? WHERE idx = ?")
        .bind(forged.as_bytes())
        .bind(i64::try_from(rule_index).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    let (ok, text) = check_db(&url).await;
    assert!(!ok, "{text}");
    assert!(text.contains("an entry was changed or deleted"), "{text}");
    let broker = Broker::start(options()).await;
    let (ok, text) = verify(&broker.base_url, &state, Some(&ada_token)).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("entry {rule_index} about you")),
        "{text}"
    );
    broker.stop().await;

    // Put back, then a row deleted: Ada's access entry and its subject.
    sqlx::query("UPDATE log_entries SET body = ? WHERE idx = ?")
        .bind(original.as_slice())
        .bind(i64::try_from(rule_index).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    assert!(check_db(&url).await.0);
    for statement in [
        "DELETE FROM log_entries WHERE idx = ?",
        "DELETE FROM log_subjects WHERE idx = ?",
    ] {
        sqlx::query(statement)
            .bind(i64::try_from(access_index).unwrap())
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let (ok, text) = check_db(&url).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("entry {access_index} is missing")),
        "{text}"
    );
    let broker = Broker::start(options()).await;
    let (ok, text) = verify(&broker.base_url, &state, Some(&ada_token)).await;
    assert!(!ok, "{text}");
    assert!(text.contains("no longer listed"), "{text}");
    broker.stop().await;
}

#[tokio::test]
async fn a_member_reads_only_entries_about_them_and_no_entry_holds_a_name_or_a_datum() {
    let broker = SqliteBroker::start().await;
    let admin = broker.admin();
    let name = "Grace Unmistakable-Hopper";
    let datum = "blood-type-AB-negative-7731";
    let (grace_id, grace_token, _) = enrol(&admin, Some(name)).await;
    let (_, alan_token, _) = enrol(&admin, Some("Alan Quite-Turing")).await;
    let grace = client(&broker.broker).with_token(&grace_token);
    let alan = client(&broker.broker).with_token(&alan_token);
    grace
        .put_data("health.heart", &json!({"note": datum}))
        .await
        .unwrap();
    grace.create_my_rule(&rule("health")).await.unwrap();
    grace
        .update_me(&datacoop_sdk::wire::UpdateMe {
            display_name: Some(Some(format!("{name} II"))),
            ..Default::default()
        })
        .await
        .unwrap();
    grace
        .update_me(&datacoop_sdk::wire::UpdateMe {
            accepts_delegations: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let subject = grace.connect(&lab.id).await.unwrap().subject;
    let reader =
        ThirdPartyClient::new(&broker.broker.base_url, &lab.client_id, &lab.client_secret).unwrap();
    for subject in [subject.as_str(), "sub_nobody-at-all"] {
        reader
            .access(&AccessRequest {
                subject: subject.to_owned(),
                data_categories: vec!["health".into()],
                purpose: "research.academic".into(),
            })
            .await
            .unwrap();
    }

    // Every entry, scanned: no name, no datum, nothing of the member's
    // profile but ids and flags.
    let checkpoint = admin.audit_checkpoint().await.unwrap();
    let size: u64 = checkpoint.lines().nth(1).unwrap().parse().unwrap();
    let mut everything = String::new();
    for index in 0..size {
        let bytes = admin.audit_entry(index).await.unwrap();
        let text = String::from_utf8(bytes).unwrap();
        for secret in [name, "Unmistakable", "Quite-Turing", datum, "blood-type"] {
            assert!(
                !text.contains(secret),
                "entry {index} holds `{secret}`: {text}"
            );
        }
        everything.push_str(&text);
    }
    assert!(everything.contains("\"type\":\"access\""));

    // Grace lists and reads hers; Alan reads none of hers; a third party
    // reads nothing; without a token, 401.
    let mine = grace.my_audit(None, None).await.unwrap().items;
    let kinds: Vec<&str> = mine.iter().map(|entry| entry.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["member.joined", "rules.created", "member.updated", "access"],
        "a name-only change logs nothing"
    );
    for listed in &mine {
        let body: Value =
            serde_json::from_slice(&grace.audit_entry(listed.index).await.unwrap()).unwrap();
        assert_eq!(body["type"], listed.kind.as_str());
        assert!(body.to_string().contains(&grace_id));
        let refused = alan.audit_entry(listed.index).await.unwrap_err();
        assert_eq!(refused.status().map(|status| status.as_u16()), Some(404));
    }
    let token = reqwest::Client::new()
        .post(format!("{}/oauth2/token", broker.broker.base_url))
        .basic_auth(&lab.client_id, Some(&lab.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_lab = client(&broker.broker).with_token(&token);
    let refused = as_lab.audit_entry(mine[0].index).await.unwrap_err();
    assert_eq!(refused.status().map(|status| status.as_u16()), Some(404));
    let anonymous = client(&broker.broker).audit_entry(0).await.unwrap_err();
    assert_eq!(anonymous.status().map(|status| status.as_u16()), Some(401));
    let beyond = admin.audit_entry(size + 100).await.unwrap_err();
    assert_eq!(beyond.status().map(|status| status.as_u16()), Some(404));
}

/// An acknowledged write: the index its receipt gave and an id its entry
/// must name.
#[derive(Debug, Clone)]
struct Acknowledged {
    index: u64,
    kind: &'static str,
    id: String,
}

/// Writes as fast as it can until `stop`, or until the broker stops
/// answering; records every acknowledged write.
async fn write_until(
    admin: Client,
    base_url: String,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<Acknowledged>>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(created) = admin
            .create_member(&CreateMember {
                display_name: None,
                registry: Registry::Anonymous,
            })
            .await
        else {
            return;
        };
        acknowledged.lock().await.push(Acknowledged {
            index: created.log_index.unwrap(),
            kind: "member.joined",
            id: created.id,
        });
        let member = Client::new(&base_url).unwrap().with_token(&created.token);
        let Ok(rule) = member.create_my_rule(&rule("health")).await else {
            return;
        };
        acknowledged.lock().await.push(Acknowledged {
            index: rule.log_index.unwrap(),
            kind: "rules.created",
            id: rule.id,
        });
    }
}

/// Collects the checkpoints a broker serves until `stop`.
async fn watch_checkpoints(client: Client, stop: Arc<AtomicBool>, seen: Arc<Mutex<Vec<String>>>) {
    while !stop.load(Ordering::Relaxed) {
        match client.audit_checkpoint().await {
            Ok(note) => seen.lock().await.push(note),
            Err(_) => return,
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Checks with `datacoop audit verify` that the broker's checkpoint now
/// is consistent with every one of `earlier`, each given as the last one
/// seen.
async fn verify_consistent_with(base_url: &str, key: &str, earlier: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let distinct: HashSet<&String> = earlier.iter().collect();
    assert!(!distinct.is_empty());
    for (number, note) in distinct.into_iter().enumerate() {
        let mut lines = note.lines();
        let (origin, size, root) = (
            lines.next().unwrap(),
            lines.next().unwrap(),
            lines.next().unwrap(),
        );
        let state = dir.path().join(format!("{number}.json"));
        std::fs::write(
            &state,
            serde_json::to_vec(&json!({
                "origin": origin, "key": key, "size": size.parse::<u64>().unwrap(), "root": root,
            }))
            .unwrap(),
        )
        .unwrap();
        let (ok, text) = verify(base_url, &state, None).await;
        assert!(ok, "not consistent with checkpoint\n{note}\n{text}");
    }
}

/// Every acknowledged write's entry, at the index its receipt gave.
async fn check_acknowledged(admin: &Client, acknowledged: &[Acknowledged]) {
    let indices: HashSet<u64> = acknowledged.iter().map(|write| write.index).collect();
    assert_eq!(indices.len(), acknowledged.len(), "two writes, one index");
    for write in acknowledged {
        let body = entry(admin, write.index).await;
        assert_eq!(body["type"], write.kind, "{write:?}: {body}");
        assert!(body.to_string().contains(&write.id), "{write:?}: {body}");
    }
}

async fn kill_during_writes_then_restart(database_url: &str) {
    let options = || BrokerOptions::new(database_url).env("DATACOOP_ADMIN_TOKEN", ADMIN);
    let broker = Broker::start(options()).await;
    let admin = client(&broker).with_token(ADMIN);
    let key = admin.audit_key().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let checkpoints = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        tasks.spawn(write_until(
            admin.clone(),
            broker.base_url.clone(),
            Arc::clone(&stop),
            Arc::clone(&acknowledged),
        ));
    }
    tasks.spawn(watch_checkpoints(
        client(&broker),
        Arc::clone(&stop),
        Arc::clone(&checkpoints),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    broker.kill().await;
    while tasks.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().await.clone();
    let checkpoints = checkpoints.lock().await.clone();
    assert!(
        acknowledged.len() > 20,
        "too few writes: {}",
        acknowledged.len()
    );

    let broker = Broker::start(options()).await;
    let admin = client(&broker).with_token(ADMIN);
    assert_eq!(admin.audit_key().await.unwrap(), key, "the key survives");
    check_acknowledged(&admin, &acknowledged).await;
    verify_consistent_with(&broker.base_url, &key, &checkpoints).await;
    // Writes go on after the restart, and the log stays whole.
    enrol(&admin, None).await;
    broker.stop().await;
    let (ok, text) = check_db(database_url).await;
    assert!(ok, "{text}");
}

#[tokio::test]
async fn kill_9_during_concurrent_writes_loses_no_acknowledged_entry_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_during_writes_then_restart(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn kill_9_during_concurrent_writes_loses_no_acknowledged_entry_on_postgres() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    kill_during_writes_then_restart(database.url()).await;
}

#[tokio::test]
async fn two_brokers_on_one_postgres_write_one_linear_history() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    let options = || BrokerOptions::new(database.url()).env("DATACOOP_ADMIN_TOKEN", ADMIN);
    let first = Broker::start(options()).await;
    let second = Broker::start(options()).await;
    let key = client(&first).audit_key().await.unwrap();
    assert_eq!(client(&second).audit_key().await.unwrap(), key, "one key");
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let checkpoints = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for broker in [&first, &second] {
        for _ in 0..8 {
            tasks.spawn(write_until(
                client(broker).with_token(ADMIN),
                broker.base_url.clone(),
                Arc::clone(&stop),
                Arc::clone(&acknowledged),
            ));
        }
        tasks.spawn(watch_checkpoints(
            client(broker),
            Arc::clone(&stop),
            Arc::clone(&checkpoints),
        ));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().await.clone();
    let checkpoints = checkpoints.lock().await.clone();
    assert!(
        acknowledged.len() > 20,
        "too few writes: {}",
        acknowledged.len()
    );
    // One history: every write at its own index, readable from either.
    check_acknowledged(&client(&second).with_token(ADMIN), &acknowledged).await;
    // Checkpoints of one size are one checkpoint, whoever signed it.
    let mut by_size: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for note in &checkpoints {
        let mut lines = note.lines();
        let _origin = lines.next();
        let size = lines.next().unwrap().to_owned();
        by_size
            .entry(size)
            .or_default()
            .insert(lines.next().unwrap().to_owned());
    }
    for (size, roots) in &by_size {
        assert_eq!(roots.len(), 1, "two roots for size {size}: {roots:?}");
    }
    // Every checkpoint is a prefix of the latest, from either broker.
    enrol(&client(&first).with_token(ADMIN), None).await;
    verify_consistent_with(&first.base_url, &key, &checkpoints).await;
    verify_consistent_with(&second.base_url, &key, &checkpoints).await;
    first.stop().await;
    second.stop().await;
    let (ok, text) = check_db(database.url()).await;
    assert!(ok, "{text}");
}

/// A changed tree hash: `check-db` names it, a member's `verify` finds
/// their entry's proof broken, and a changed subtree hash that new
/// appends build on is never signed over.
#[tokio::test]
async fn a_changed_tree_hash_is_caught_and_never_signed_over() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let options = || BrokerOptions::new(&url).env("DATACOOP_ADMIN_TOKEN", ADMIN);
    let broker = Broker::start(options()).await;
    let admin = client(&broker).with_token(ADMIN);
    let (_, ada_token, first) = enrol(&admin, None).await;
    assert_eq!(first, 0);
    for _ in 0..3 {
        enrol(&admin, None).await;
    }
    let state = dir.path().join("verify.json");
    let (ok, text) = verify(&broker.base_url, &state, Some(&ada_token)).await;
    assert!(ok, "{text}");
    broker.stop().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let stored = |index: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT hash FROM log_hashes WHERE idx = ?")
                .bind(index)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let set = |index: i64, hash: Vec<u8>| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE log_hashes SET hash = ? WHERE idx = ?")
                .bind(hash)
                .bind(index)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    // Stored hash 1 is entry 1's leaf, the sibling in entry 0's proof.
    let leaf = stored(1).await;
    set(1, vec![7; 32]).await;
    let (ok, text) = check_db(&url).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("stored tree hash 1 (written with entry 1)"),
        "{text}"
    );
    let broker = Broker::start(options()).await;
    let (ok, text) = verify(&broker.base_url, &state, Some(&ada_token)).await;
    assert!(!ok, "{text}");
    assert!(text.contains("entry 0 about you"), "{text}");
    broker.stop().await;
    set(1, leaf).await;
    assert!(check_db(&url).await.0);

    // Stored hash 6 is the root of the four entries, a peak that the next
    // append builds on: the broker refuses to sign the tree it gives.
    set(6, vec![9; 32]).await;
    pool.close().await;
    let broker = Broker::start(options()).await;
    let admin = client(&broker).with_token(ADMIN);
    enrol(&admin, None).await;
    let refused = admin.audit_checkpoint().await.unwrap_err();
    assert_eq!(refused.status().map(|status| status.as_u16()), Some(500));
    let (_, stderr) = broker.stop().await;
    assert!(stderr.contains("refusing to sign"), "{stderr}");
    assert!(!check_db(&url).await.0);
}
