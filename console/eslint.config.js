import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist", "node_modules", "src/**/*.gen.ts"] },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [js.configs.recommended, ...tseslint.configs.strict],
    languageOptions: { globals: globals.browser },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      // money is never a float: parseFloat / Number() on amounts is how it starts
      "no-restricted-globals": ["error", { name: "parseFloat", message: "money is integer minor units (src/money)" }],
      // the CSP allows no inline style: a style attribute would be refused by the browser
      "no-restricted-syntax": [
        "error",
        { selector: "JSXAttribute[name.name='style']", message: "no inline styles (CSP style-src 'self'): use styles.css" },
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: "no raw HTML" },
      ],
    },
  },
  {
    files: ["**/*.{js,mjs}"],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
