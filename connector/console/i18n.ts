/**
 * The console's words in English and French. Every string a page shows comes from here; a French
 * entry is required for each English one (the type says so). Dates and numbers are formatted with
 * Intl for the chosen language.
 */
export const languages = ['en', 'fr'] as const
export type Language = (typeof languages)[number]

const en = {
  'app.name': 'Passerelle console',
  'skip.to.content': 'Skip to content',
  'nav.label': 'Main',
  'nav.overview': 'Overview',
  'nav.negotiations': 'Negotiations',
  'nav.transfers': 'Transfers',
  'nav.agreements': 'Agreements',
  'nav.datasets': 'Datasets',
  'nav.search': 'Search the data space',
  'language.label': 'Language',
  'language.switch': 'Change language',
  'language.en': 'English',
  'language.fr': 'Français',
  'signin.title': 'Sign in',
  'signin.intro': 'Sign in with this connector’s management key (management.apiKey in its configuration, or PASSERELLE_MANAGEMENT_KEY).',
  'signin.key': 'Management key',
  'signin.submit': 'Sign in',
  'signin.wrong': 'This key is not the management key of this connector.',
  'signin.disabled': 'The management API is disabled on this connector: set management.apiKey in its configuration.',
  'signin.expired': 'Your session has ended. Please sign in again.',
  'signout.submit': 'Sign out',
  'signout.done': 'You are signed out.',
  'forbidden.title': 'Request refused',
  'forbidden.csrf': 'This form has expired or did not come from this console (its security token is missing or wrong). Nothing was changed.',
  'forbidden.session': 'You are not signed in. Nothing was changed.',
  'error.title': 'Something went wrong',
  'error.notFound': 'Not found',
  'error.back': 'Back to the overview',
  'overview.title': 'Overview',
  'overview.health': 'Health',
  'overview.health.ok': 'Ready',
  'overview.health.unavailable': 'Unavailable',
  'overview.database': 'Database',
  'overview.version': 'Version',
  'overview.identity': 'Identity',
  'overview.participant': 'Participant id (DID)',
  'overview.name': 'Name',
  'overview.dspUrl': 'Dataspace Protocol address',
  'overview.credentials': 'Credentials',
  'overview.credentials.none': 'This connector holds no credential.',
  'overview.credential.type': 'Type',
  'overview.credential.issuer': 'Issuer',
  'overview.credential.validUntil': 'Valid until',
  'overview.credential.status': 'Status',
  'overview.credential.valid': 'valid',
  'overview.credential.expired': 'expired',
  'overview.credential.noExpiry': 'no expiry',
  'overview.counts': 'Counts',
  'overview.count.datasets': 'Datasets published',
  'overview.count.peers': 'Peers',
  'overview.refusals': 'Recent refusals',
  'overview.refusals.none': 'No refusal recently.',
  'overview.outbox': 'Outbox and peers',
  'overview.outbox.none': 'No message is waiting for a peer.',
  'overview.peers.none': 'No peer is registered yet.',
  'field.peer': 'Peer',
  'field.inFlight': 'Messages waiting',
  'field.failures': 'Consecutive failures',
  'field.circuit': 'Circuit',
  'field.lastError': 'Last error',
  'field.lastCrawl': 'Last crawl',
  'field.datasets': 'Datasets',
  'field.state': 'State',
  'field.role': 'Role',
  'field.dataset': 'Dataset',
  'field.counterparty': 'Counterparty',
  'field.created': 'Created',
  'field.updated': 'Updated',
  'field.reason': 'Reason',
  'field.when': 'When',
  'field.who': 'Who',
  'field.what': 'What',
  'field.why': 'Why',
  'field.kind': 'Kind',
  'field.agreement': 'Agreement',
  'field.offer': 'Offer',
  'field.format': 'Format',
  'field.bytes': 'Bytes moved',
  'field.size': 'Size',
  'field.accesses': 'Downloads',
  'field.usage': 'Uses counted',
  'field.obligation': 'Obligation',
  'field.status': 'Status',
  'field.checkedBy': 'Checked by',
  'field.due': 'Due',
  'field.assigner': 'Provider',
  'field.assignee': 'Consumer',
  'field.signed': 'Signed',
  'field.policy': 'Policy',
  'field.id': 'Id',
  'field.title': 'Title',
  'field.offers': 'Offers',
  'field.publisher': 'Publisher',
  'role.provider': 'provider',
  'role.consumer': 'consumer',
  'filter.state': 'State',
  'filter.role': 'Role',
  'filter.any': 'any',
  'filter.apply': 'Filter',
  'paging.label': 'Pages',
  'paging.previous': 'Previous page',
  'paging.next': 'Next page',
  'paging.range': 'Items {from} to {to}',
  'list.empty': 'Nothing here yet.',
  'negotiations.title': 'Negotiations',
  'negotiation.title': 'Negotiation',
  'negotiation.timeline': 'Timeline',
  'negotiation.refused': 'Refused',
  'negotiation.waiting': 'The negotiation is under way; this page refreshes by itself until it ends.',
  'negotiation.startTransfer': 'Start a transfer',
  'negotiation.agreementMade': 'An agreement was made.',
  'transfers.title': 'Transfers',
  'transfer.title': 'Transfer',
  'transfer.progress': 'Progress',
  'transfer.running': 'The transfer is under way; this page refreshes by itself.',
  'transfer.download': 'Download the data',
  'transfer.accesses': 'Downloads',
  'agreements.title': 'Agreements',
  'agreement.title': 'Agreement',
  'agreement.obligations': 'Obligations',
  'agreement.obligations.none': 'This agreement binds its consumer to no duty.',
  'agreement.permissions': 'Permissions',
  'agreement.prohibitions': 'Prohibitions',
  'datasets.title': 'Datasets',
  'datasets.intro': 'The datasets this connector publishes, with the terms of their offers.',
  'search.title': 'Search the data space',
  'search.query': 'Words to look for',
  'search.submit': 'Search',
  'search.results': '{count} datasets found',
  'search.none': 'No dataset matches. Peers are searched as they were last crawled.',
  'search.requestAccess': 'Request access',
  'search.stale': 'last good copy (the peer did not answer its last crawl)',
  'search.terms': 'Terms',
  'search.from': 'Offered by',
} as const

export type MessageKey = keyof typeof en

const fr: Record<MessageKey, string> = {
  'app.name': 'Console Passerelle',
  'skip.to.content': 'Aller au contenu',
  'nav.label': 'Principal',
  'nav.overview': 'Vue d’ensemble',
  'nav.negotiations': 'Négociations',
  'nav.transfers': 'Transferts',
  'nav.agreements': 'Accords',
  'nav.datasets': 'Jeux de données',
  'nav.search': 'Chercher dans l’espace de données',
  'language.label': 'Langue',
  'language.switch': 'Changer de langue',
  'language.en': 'English',
  'language.fr': 'Français',
  'signin.title': 'Connexion',
  'signin.intro': 'Connectez-vous avec la clé de gestion de ce connecteur (management.apiKey dans sa configuration, ou PASSERELLE_MANAGEMENT_KEY).',
  'signin.key': 'Clé de gestion',
  'signin.submit': 'Se connecter',
  'signin.wrong': 'Cette clé n’est pas la clé de gestion de ce connecteur.',
  'signin.disabled': 'L’API de gestion est désactivée sur ce connecteur : définissez management.apiKey dans sa configuration.',
  'signin.expired': 'Votre session a pris fin. Veuillez vous reconnecter.',
  'signout.submit': 'Se déconnecter',
  'signout.done': 'Vous êtes déconnecté.',
  'forbidden.title': 'Requête refusée',
  'forbidden.csrf': 'Ce formulaire a expiré ou ne vient pas de cette console (son jeton de sécurité manque ou est faux). Rien n’a été modifié.',
  'forbidden.session': 'Vous n’êtes pas connecté. Rien n’a été modifié.',
  'error.title': 'Un problème est survenu',
  'error.notFound': 'Introuvable',
  'error.back': 'Retour à la vue d’ensemble',
  'overview.title': 'Vue d’ensemble',
  'overview.health': 'État',
  'overview.health.ok': 'Prêt',
  'overview.health.unavailable': 'Indisponible',
  'overview.database': 'Base de données',
  'overview.version': 'Version',
  'overview.identity': 'Identité',
  'overview.participant': 'Identifiant du participant (DID)',
  'overview.name': 'Nom',
  'overview.dspUrl': 'Adresse du Dataspace Protocol',
  'overview.credentials': 'Attestations',
  'overview.credentials.none': 'Ce connecteur ne détient aucune attestation.',
  'overview.credential.type': 'Type',
  'overview.credential.issuer': 'Émetteur',
  'overview.credential.validUntil': 'Valide jusqu’au',
  'overview.credential.status': 'Statut',
  'overview.credential.valid': 'valide',
  'overview.credential.expired': 'expirée',
  'overview.credential.noExpiry': 'sans expiration',
  'overview.counts': 'Comptes',
  'overview.count.datasets': 'Jeux de données publiés',
  'overview.count.peers': 'Pairs',
  'overview.refusals': 'Refus récents',
  'overview.refusals.none': 'Aucun refus récent.',
  'overview.outbox': 'File d’envoi et pairs',
  'overview.outbox.none': 'Aucun message n’attend un pair.',
  'overview.peers.none': 'Aucun pair n’est encore enregistré.',
  'field.peer': 'Pair',
  'field.inFlight': 'Messages en attente',
  'field.failures': 'Échecs consécutifs',
  'field.circuit': 'Circuit',
  'field.lastError': 'Dernière erreur',
  'field.lastCrawl': 'Dernier moissonnage',
  'field.datasets': 'Jeux de données',
  'field.state': 'État',
  'field.role': 'Rôle',
  'field.dataset': 'Jeu de données',
  'field.counterparty': 'Contrepartie',
  'field.created': 'Créée le',
  'field.updated': 'Mise à jour',
  'field.reason': 'Motif',
  'field.when': 'Quand',
  'field.who': 'Qui',
  'field.what': 'Quoi',
  'field.why': 'Pourquoi',
  'field.kind': 'Nature',
  'field.agreement': 'Accord',
  'field.offer': 'Offre',
  'field.format': 'Format',
  'field.bytes': 'Octets transférés',
  'field.size': 'Taille',
  'field.accesses': 'Téléchargements',
  'field.usage': 'Utilisations comptées',
  'field.obligation': 'Obligation',
  'field.status': 'Statut',
  'field.checkedBy': 'Vérifiée par',
  'field.due': 'Échéance',
  'field.assigner': 'Fournisseur',
  'field.assignee': 'Consommateur',
  'field.signed': 'Signé le',
  'field.policy': 'Politique',
  'field.id': 'Identifiant',
  'field.title': 'Titre',
  'field.offers': 'Offres',
  'field.publisher': 'Éditeur',
  'role.provider': 'fournisseur',
  'role.consumer': 'consommateur',
  'filter.state': 'État',
  'filter.role': 'Rôle',
  'filter.any': 'tous',
  'filter.apply': 'Filtrer',
  'paging.label': 'Pages',
  'paging.previous': 'Page précédente',
  'paging.next': 'Page suivante',
  'paging.range': 'Éléments {from} à {to}',
  'list.empty': 'Rien pour l’instant.',
  'negotiations.title': 'Négociations',
  'negotiation.title': 'Négociation',
  'negotiation.timeline': 'Chronologie',
  'negotiation.refused': 'Refusée',
  'negotiation.waiting': 'La négociation est en cours ; cette page se met à jour d’elle-même jusqu’à sa fin.',
  'negotiation.startTransfer': 'Lancer un transfert',
  'negotiation.agreementMade': 'Un accord a été conclu.',
  'transfers.title': 'Transferts',
  'transfer.title': 'Transfert',
  'transfer.progress': 'Progression',
  'transfer.running': 'Le transfert est en cours ; cette page se met à jour d’elle-même.',
  'transfer.download': 'Télécharger les données',
  'transfer.accesses': 'Téléchargements',
  'agreements.title': 'Accords',
  'agreement.title': 'Accord',
  'agreement.obligations': 'Obligations',
  'agreement.obligations.none': 'Cet accord n’impose aucune obligation à son consommateur.',
  'agreement.permissions': 'Permissions',
  'agreement.prohibitions': 'Interdictions',
  'datasets.title': 'Jeux de données',
  'datasets.intro': 'Les jeux de données que publie ce connecteur, avec les conditions de leurs offres.',
  'search.title': 'Chercher dans l’espace de données',
  'search.query': 'Mots à chercher',
  'search.submit': 'Chercher',
  'search.results': '{count} jeux de données trouvés',
  'search.none': 'Aucun jeu de données ne correspond. Les pairs sont cherchés tels qu’ils étaient au dernier moissonnage.',
  'search.requestAccess': 'Demander l’accès',
  'search.stale': 'dernière copie valable (le pair n’a pas répondu au dernier moissonnage)',
  'search.terms': 'Conditions',
  'search.from': 'Proposé par',
}

const dictionaries: Record<Language, Record<MessageKey, string>> = { en, fr }

export interface Words {
  language: Language
  t(key: MessageKey, params?: Record<string, string | number>): string
  date(iso: string | number | Date | null | undefined): string
  number(value: number): string
  bytes(value: number | null | undefined): string
}

/** The words and formats of one language. Times are shown in UTC, said so, so two readers agree. */
export function wordsFor(language: Language): Words {
  const dictionary = dictionaries[language]
  const locale = language === 'fr' ? 'fr-CA' : 'en-CA'
  const dates = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC' })
  const numbers = new Intl.NumberFormat(locale)
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const
  return {
    language,
    t(key, params) {
      const text = dictionary[key]
      return params ? text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole)) : text
    },
    date(value) {
      if (value === null || value === undefined || value === '') return '—'
      const date = new Date(value)
      return Number.isNaN(date.getTime()) ? String(value) : `${dates.format(date)} UTC`
    },
    number: (value) => numbers.format(value),
    bytes(value) {
      if (value === null || value === undefined) return '—'
      let size = value
      let unit = 0
      while (size >= 1000 && unit < units.length - 1) {
        size /= 1000
        unit++
      }
      return new Intl.NumberFormat(locale, { style: 'unit', unit: units[unit], unitDisplay: 'short', maximumFractionDigits: unit === 0 ? 0 : 1 }).format(size)
    },
  }
}

/**
 * The language to answer in: the reader's choice (cookie) first, then the first language of
 * Accept-Language we speak (by weight), English otherwise.
 */
export function chooseLanguage(chosen: string | undefined, acceptLanguage: string | undefined): Language {
  if (chosen && (languages as readonly string[]).includes(chosen)) return chosen as Language
  const ranked = (acceptLanguage ?? '')
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [tag = '', ...rest] = part.trim().split(';')
      const q = rest.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined)
      return { base: tag.toLowerCase().split('-')[0] ?? '', weight: q === undefined ? 1 : Number(q), index }
    })
    .filter((entry) => entry.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.index - b.index)
  return (ranked.find((entry) => (languages as readonly string[]).includes(entry.base))?.base as Language | undefined) ?? 'en'
}
