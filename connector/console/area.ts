import type { Area } from '../area.ts'
import { consoleRoutes } from './routes.tsx'

/**
 * The web console at /console: pages for operators and data stewards, served by the connector
 * itself. It reads and acts through the management API only (called in-process by the app it is
 * mounted on), so it is enabled exactly when that API is (a management key is configured).
 */
export const consoleArea: Area = {
  name: 'console',
  routes({ root }, ctx) {
    root.route('/', consoleRoutes({ ctx, request: (path, init) => root.request(path, init) }))
  },
}
