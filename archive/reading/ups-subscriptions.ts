import type { Principal, Visibility } from '../access/policy.ts';
import type { UpsSubscriptionsRepository } from '../db/ups-subscriptions-repository.ts';
import type { WorkitemsRepository } from '../db/workitems-repository.ts';
import type { UpsEventChannel } from './ups-event-channel.ts';
import { isAeTitle, UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID, UPS_GLOBAL_SUBSCRIPTION_UID } from './ups-event-report.ts';
import { UPS_STATUS } from './ups-state.ts';
import { workitemSearchOf, WorklistRefusal } from './worklist-service.ts';

/**
 * Subscriptions to UPS events (PS3.4 CC.2.3, served by UPS-RS as Create, Suspend and Delete
 * Subscription, PS3.18 11): to one workitem, to all (global), or to those matching keys (filtered
 * global). A subscriber is an AE Title of the user who subscribed; events reach them over the event
 * channel (ups-event-channel.ts) only for workitems that user may see.
 */
export class UpsSubscriptionService {
  constructor(
    private readonly subscriptions: UpsSubscriptionsRepository,
    private readonly workitems: WorkitemsRepository,
    private readonly channel: UpsEventChannel,
  ) {}

  /**
   * Subscribes an AE Title of the caller. Deletion locks are always granted: Yingyun never deletes a
   * workitem, so every subscriber can retrieve its final state (PS3.4 CC.2.3.3).
   */
  async subscribe(principal: Principal, visibility: Visibility, target: string, aeTitle: string, query: Record<string, string | string[] | undefined>): Promise<void> {
    checkAeTitle(aeTitle);
    const { deletionlock, ...keys } = query;
    if (deletionlock !== undefined && deletionlock !== 'true' && deletionlock !== 'false') throw new WorklistRefusal(400, 'deletionlock is true or false');
    let filter: Record<string, string> | null = null;
    if (target === UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID) {
      filter = Object.fromEntries(Object.entries(keys).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : (value ?? '')]));
      // Checked now, with the subscriber's own scope and masking, so that a bad key is refused here, not ignored later.
      const { notMatched } = workitemSearchOf(filter, visibility);
      const paging = Object.keys(filter).filter((name) => name === 'limit' || name === 'offset' || name === 'includefield');
      if (notMatched.length || paging.length) throw new WorklistRefusal(400, `a filtered subscription matches by the worklist's search keys only; not by ${[...notMatched, ...paging].join(', ')}`);
    } else if (Object.keys(keys).length) {
      throw new WorklistRefusal(400, `only a filtered global subscription (${UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID}) takes matching keys`);
    } else if (target !== UPS_GLOBAL_SUBSCRIPTION_UID) {
      await this.visibleWorkitem(target, visibility);
    }
    await this.subscriptions.subscribe(principal.userId, aeTitle, target, { deletionLock: deletionlock === 'true', filter });
    await this.channel.subscribed(principal.userId, aeTitle, target);
  }

  /** Suspends a global or filtered subscription: no new workitems, the ones it covers stay covered. */
  async suspend(principal: Principal, target: string, aeTitle: string): Promise<void> {
    checkAeTitle(aeTitle);
    if (target !== UPS_GLOBAL_SUBSCRIPTION_UID && target !== UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID) {
      throw new WorklistRefusal(400, `only a global subscription (${UPS_GLOBAL_SUBSCRIPTION_UID} or ${UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID}) can be suspended`);
    }
    if (!(await this.subscriptions.suspend(principal.userId, aeTitle, target))) throw new WorklistRefusal(404, `${aeTitle} has no subscription ${target} to suspend`);
  }

  /** Unsubscribes from one workitem, or from a global subscription and every workitem with it. */
  async unsubscribe(principal: Principal, visibility: Visibility, target: string, aeTitle: string): Promise<void> {
    checkAeTitle(aeTitle);
    if (target !== UPS_GLOBAL_SUBSCRIPTION_UID && target !== UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID) await this.visibleWorkitem(target, visibility);
    await this.subscriptions.unsubscribe(principal.userId, aeTitle, target);
  }

  private async visibleWorkitem(sopInstanceUid: string, visibility: Visibility): Promise<void> {
    if (!(await this.workitems.find(sopInstanceUid, visibility))) throw new WorklistRefusal(404, `no workitem ${sopInstanceUid} is here`, UPS_STATUS.noSuchWorkitem);
  }
}

function checkAeTitle(aeTitle: string): void {
  if (!isAeTitle(aeTitle)) throw new WorklistRefusal(400, 'the AE Title is 1 to 16 printable ASCII characters, without spaces or backslash');
}
