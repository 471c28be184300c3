//! Domains and accounts, and recipients resolved against them.

use mailroom_store::Resolution;
use mailroom_store::actor::ResolveRecipient;

use crate::support::each_engine;

#[actix_rt::test]
async fn an_added_account_receives_and_an_unknown_domain_does_not() {
    each_engine(|h| async move {
        let id = h.account("alice@example.test", "password1").await;
        let resolve = |address: &str| {
            h.store.send(ResolveRecipient {
                address: address.into(),
            })
        };
        let got = resolve("Alice@EXAMPLE.test")
            .await
            .expect("actor")
            .expect("resolve");
        assert_eq!(got, Resolution::Local(vec![id]), "{}", h.engine);
        let got = resolve("bob@elsewhere.test")
            .await
            .expect("actor")
            .expect("resolve");
        assert_eq!(got, Resolution::NotOurDomain, "{}", h.engine);
    })
    .await;
}
