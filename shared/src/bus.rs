//! The event bus: typed publish/subscribe between actors that must not know each other.
//!
//! Publishers send [`Publish`] and never learn who listens; subscribers register a
//! `Recipient` with [`Subscribe`]. The bus keeps only weak references, so a subscription never
//! keeps an actor alive, and dead subscribers are dropped on the next publish of their type.

use actix::WeakRecipient;
use actix::prelude::*;
use std::any::{Any, TypeId};
use std::collections::HashMap;

/// What can travel on the bus.
pub trait Event: Message<Result = ()> + Clone + Send + 'static {}
impl<E: Message<Result = ()> + Clone + Send + 'static> Event for E {}

/// Register `0` for every later event of type `E`. Sent by any actor, handled by [`EventBus`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe<E: Event>(pub Recipient<E>);

/// Hand `0` to every current subscriber of `E`. Sent by publishers, handled by [`EventBus`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish<E: Event>(pub E);

/// Hand `event` to every current subscriber of `E` but `except`. Sent by a relay that is
/// itself a subscriber of `E` (the cluster bridge republishing another node's change), so
/// that what it relays does not come back to it; handled by [`EventBus`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishExcept<E: Event>
where
    E::Result: Send,
{
    pub event: E,
    pub except: Recipient<E>,
}

/// The bus actor; one per process, on the System arbiter.
#[derive(Default)]
pub struct EventBus {
    /// `TypeId::of::<E>()` -> `Vec<WeakRecipient<E>>`
    subscribers: HashMap<TypeId, Box<dyn Any>>,
}

impl Actor for EventBus {
    type Context = Context<Self>;
}

impl EventBus {
    fn list<E: Event>(&mut self) -> &mut Vec<WeakRecipient<E>> {
        let entry = self
            .subscribers
            .entry(TypeId::of::<E>())
            .or_insert_with(|| Box::new(Vec::<WeakRecipient<E>>::new()));
        match entry.downcast_mut::<Vec<WeakRecipient<E>>>() {
            Some(list) => list,
            // The map is keyed by the TypeId of exactly this vector's element type.
            None => unreachable!("event bus entry of the wrong type"),
        }
    }

    /// Send `event` to every live subscriber of `E` but `except`, dropping the dead ones.
    fn hand_out<E: Event>(&mut self, event: &E, except: Option<&Recipient<E>>)
    where
        E::Result: Send,
    {
        self.list::<E>().retain(|weak| match weak.upgrade() {
            Some(recipient) => {
                if except != Some(&recipient) {
                    recipient.do_send(event.clone());
                }
                true
            }
            None => false,
        });
    }
}

impl<E: Event> Handler<Subscribe<E>> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: Subscribe<E>, _: &mut Context<Self>) {
        self.list::<E>().push(msg.0.downgrade());
    }
}

impl<E: Event> Handler<Publish<E>> for EventBus
where
    E::Result: Send,
{
    type Result = ();
    fn handle(&mut self, msg: Publish<E>, _: &mut Context<Self>) {
        self.hand_out(&msg.0, None);
    }
}

impl<E: Event> Handler<PublishExcept<E>> for EventBus
where
    E::Result: Send,
{
    type Result = ();
    fn handle(&mut self, msg: PublishExcept<E>, _: &mut Context<Self>) {
        self.hand_out(&msg.event, Some(&msg.except));
    }
}

/// A cheap handle for publishing, so that publishers need not name the bus actor type.
#[derive(Clone)]
pub struct Bus(pub Addr<EventBus>);

impl Bus {
    /// Start the bus on the current arbiter.
    pub fn start() -> Self {
        Self(EventBus::default().start())
    }

    /// Publish `event` to all subscribers of its type.
    pub fn publish<E: Event>(&self, event: E) {
        self.0.do_send(Publish(event));
    }

    /// Publish `event` to all subscribers of its type except `except`.
    pub fn publish_except<E: Event>(&self, event: E, except: Recipient<E>)
    where
        E::Result: Send,
    {
        self.0.do_send(PublishExcept { event, except });
    }

    /// Subscribe `recipient` to events of type `E`.
    pub fn subscribe<E: Event>(&self, recipient: Recipient<E>) {
        self.0.do_send(Subscribe(recipient));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Message, Clone)]
    #[rtype(result = "()")]
    struct Ping(u32);

    #[derive(Default)]
    struct Sink(Vec<u32>);
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Ping> for Sink {
        type Result = ();
        fn handle(&mut self, m: Ping, _: &mut Context<Self>) {
            self.0.push(m.0);
        }
    }
    #[derive(Message)]
    #[rtype(result = "Vec<u32>")]
    struct Seen;
    impl Handler<Seen> for Sink {
        type Result = Vec<u32>;
        fn handle(&mut self, _: Seen, _: &mut Context<Self>) -> Vec<u32> {
            self.0.clone()
        }
    }

    #[actix_rt::test]
    async fn subscribers_receive_and_dead_ones_are_dropped() {
        let bus = Bus::start();
        let a = Sink::default().start();
        let b = Sink::default().start();
        bus.subscribe(a.clone().recipient::<Ping>());
        bus.subscribe(b.clone().recipient::<Ping>());
        bus.publish(Ping(1));
        drop(b);
        bus.publish(Ping(2));
        // A round trip through the bus orders us after both publishes.
        bus.0.send(Publish(Ping(3))).await.expect("bus alive");
        let seen = a.send(Seen).await.expect("sink alive");
        assert_eq!(seen, [1, 2, 3]);
    }

    #[actix_rt::test]
    async fn publish_except_skips_only_the_relay() {
        let bus = Bus::start();
        let relay = Sink::default().start();
        let other = Sink::default().start();
        bus.subscribe(relay.clone().recipient::<Ping>());
        bus.subscribe(other.clone().recipient::<Ping>());
        bus.publish_except(Ping(1), relay.clone().recipient());
        bus.0.send(Publish(Ping(2))).await.expect("bus alive");
        assert_eq!(relay.send(Seen).await.expect("relay alive"), [2]);
        assert_eq!(other.send(Seen).await.expect("sink alive"), [1, 2]);
    }
}
