import type { Ctx } from '../context.ts'
import type { Db } from '../store/store.ts'
import { obligationRepository } from './obligations.ts'

/**
 * What a negotiation tells the agreement's obligation records, in the transaction of the step:
 * an agreement was made, the consumer verified it (DSP `ContractAgreementVerificationMessage`: its
 * duties become acknowledged). Both roles keep them, so each side lists the duties under its
 * agreement.
 */
export interface AgreementDuties {
  agreed(tx: Db, agreementId: string): Promise<void>
  verified(tx: Db, agreementId: string, actor: string): Promise<void>
}

export function agreementDuties(ctx: Ctx): AgreementDuties {
  const duties = obligationRepository(ctx.store, ctx)
  return {
    // Recording is lazy (first use, the obligations API, the monitor's pass): the records then take
    // the negotiation's state, acknowledged once verified. Negotiation steps stay as cheap as before.
    async agreed() {},
    // Duties recorded before the verification (someone listed them meanwhile) are acknowledged now.
    async verified(tx, agreementId, actor) {
      await duties.acknowledgeRecorded(tx, agreementId, actor)
    },
  }
}
