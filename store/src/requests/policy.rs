//! Requests about the state the inbound policy keeps: greylisting, the spam filter's
//! counts and decisions, and DKIM keys. Defined beside their value types.

pub use crate::dkim::DkimKeys;
pub use crate::greylist::{ExpireGreylist, LoadGreylist, LookupGreylist, SaveGreylist};
pub use crate::spam::{
    FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions, TrainBayes,
};
