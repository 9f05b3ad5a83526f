import { readFileSync } from 'node:fs'
import { fromRoot } from './paths.ts'

/** The version in package.json, read once. */
export const packageVersion: string = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')).version
