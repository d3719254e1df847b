//! A third party reads one member's data through the broker.
//!
//! ```text
//! cargo run -p datacoop-sdk --example read -- \
//!     http://127.0.0.1:8080 CLIENT_ID CLIENT_SECRET SUBJECT health.heart research.academic
//! ```
#![allow(clippy::print_stdout, reason = "an example prints its result")]

use datacoop_sdk::ThirdPartyClient;
use datacoop_sdk::wire::AccessRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, client_id, client_secret, subject, category, purpose] = args.as_slice() else {
        return Err("usage: read URL CLIENT_ID CLIENT_SECRET SUBJECT CATEGORY PURPOSE".into());
    };
    let reader = ThirdPartyClient::new(url, client_id, client_secret)?;
    let answer = reader
        .access(&AccessRequest {
            subject: subject.clone(),
            data_categories: vec![category.clone()],
            purpose: purpose.clone(),
        })
        .await?;
    for category in &answer.categories {
        println!(
            "{}: {:?} ({:?})",
            category.category, category.decision, category.reason
        );
    }
    println!("{}", serde_json::to_string_pretty(&answer.data)?);
    Ok(())
}
