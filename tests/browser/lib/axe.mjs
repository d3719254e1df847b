/**
 * Accessibility checks with axe-core: WCAG 2.2 level AA, as far as a
 * machine can tell.
 */
import { AssertionError } from 'node:assert';

import { AxeBuilder } from '@axe-core/playwright';

/** axe's rule tags for WCAG 2.0, 2.1 and 2.2, levels A and AA. */
const WCAG_AA_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** Enough of an offending element's HTML to find it in a template. */
const SNIPPET_LENGTH = 200;

/**
 * Runs axe on the page as it is now and throws when it finds violations.
 * @param {import('playwright-core').Page} page
 * @param {string} label names the page in the failure, such as 'the member home page'
 * @returns {Promise<import('axe-core').AxeResults>} axe's results, when there is no violation
 */
export async function expectAccessible(page, label) {
  const results = await new AxeBuilder({ page }).withTags(WCAG_AA_TAGS).analyze();
  const { violations } = results;
  if (violations.length > 0) {
    throw new AssertionError({
      message:
        `${label} (${page.url()}): ${violations.length} accessibility violation(s)\n` +
        violations.map(describeViolation).join('\n'),
      actual: violations.map((violation) => violation.id),
      expected: [],
      operator: 'expectAccessible',
    });
  }
  return results;
}

/**
 * One violation as a few lines: the rule, its impact and summary, then
 * each offending element's selector (`>>` steps into a frame) and HTML.
 * @param {import('axe-core').Result} violation
 */
function describeViolation({ id, impact, help, helpUrl, nodes }) {
  const elements = nodes.map(
    (node) => `    at ${node.target.flat().join(' >> ')}: ${truncate(node.html.replace(/\s+/g, ' '))}`,
  );
  return [`  ${id} (${impact}): ${help} <${helpUrl}>`, ...elements].join('\n');
}

/** @param {string} text */
function truncate(text) {
  return text.length <= SNIPPET_LENGTH ? text : `${text.slice(0, SNIPPET_LENGTH - 1)}…`;
}
