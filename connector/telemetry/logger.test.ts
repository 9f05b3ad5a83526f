import { describe, expect, it } from 'vitest'
import { createLogger } from './logger.ts'

describe('logger', () => {
  it('writes errors with their message, code and cause, and bound fields, one JSON object per line', () => {
    const lines: string[] = []
    const logger = createLogger({ level: 'info', write: (line) => lines.push(line) }).child({ area: 'dispatch' })
    const cause = Object.assign(new Error('duplicate key value violates unique constraint "settings_pkey"'), { code: '23505' })
    logger.error('write failed', { error: new Error('Failed query: insert into "settings"', { cause }) })
    logger.debug('not written below the level')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'error',
      msg: 'write failed',
      area: 'dispatch',
      error: {
        message: 'Failed query: insert into "settings"',
        cause: { message: 'duplicate key value violates unique constraint "settings_pkey"', code: '23505' },
      },
    })
  })
})
