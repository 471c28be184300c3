//! What the store announced on the bus: a sink that collects `MailboxChanged` and
//! `EventRecorded`, and hands over exactly what was published before a call to
//! [`Announced::take`] (a marker published after it travels the same bus, in order).

use std::collections::VecDeque;
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler, Message, MessageResult};
use mailroom_shared::bus::Bus;
use mailroom_shared::events::EventRecorded;
use mailroom_shared::msg::MailboxChanged;

/// What one stretch of requests announced.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub changed: Vec<MailboxChanged>,
    pub events: Vec<EventRecorded>,
}

#[derive(Default)]
struct Sink {
    pending: Batch,
    ready: VecDeque<Batch>,
}

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<MailboxChanged> for Sink {
    type Result = ();
    fn handle(&mut self, m: MailboxChanged, _: &mut Context<Self>) {
        self.pending.changed.push(m);
    }
}

impl Handler<EventRecorded> for Sink {
    type Result = ();
    fn handle(&mut self, m: EventRecorded, _: &mut Context<Self>) {
        self.pending.events.push(m);
    }
}

#[derive(Message, Clone)]
#[rtype(result = "()")]
struct Marker;

impl Handler<Marker> for Sink {
    type Result = ();
    fn handle(&mut self, _: Marker, _: &mut Context<Self>) {
        let batch = std::mem::take(&mut self.pending);
        self.ready.push_back(batch);
    }
}

#[derive(Message)]
#[rtype(result = "Option<Batch>")]
struct Take;

impl Handler<Take> for Sink {
    type Result = MessageResult<Take>;
    fn handle(&mut self, _: Take, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.ready.pop_front())
    }
}

/// A listener on one harness's bus.
pub struct Announced {
    bus: Bus,
    sink: Addr<Sink>,
}

impl Announced {
    pub fn listen(bus: &Bus) -> Self {
        let sink = Sink::default().start();
        bus.subscribe(sink.clone().recipient::<MailboxChanged>());
        bus.subscribe(sink.clone().recipient::<EventRecorded>());
        bus.subscribe(sink.clone().recipient::<Marker>());
        Announced {
            bus: bus.clone(),
            sink,
        }
    }

    /// Everything announced since the last call.
    pub async fn take(&self) -> Batch {
        self.bus.publish(Marker);
        for _ in 0..500 {
            if let Some(batch) = self.sink.send(Take).await.expect("sink") {
                return batch;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the bus never delivered the marker");
    }

    /// The mailbox changes announced since the last call.
    pub async fn changes(&self) -> Vec<MailboxChanged> {
        self.take().await.changed
    }
}
