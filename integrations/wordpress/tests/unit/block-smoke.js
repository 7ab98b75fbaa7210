// Loads the no-build editor script with stand-ins for WordPress's wp.* globals and checks the
// block it registers: name, attributes, a text field, a server-side preview once there is text,
// and save() returning null (the front end is rendered by PHP). Run by BlockScriptTest.php.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const file = path.join(__dirname, '../../serverless-nlp-sentiment/assets/block.js');
const registered = {};
const wp = {
	element: { createElement: (type, props, ...children) => ({ type, props: props || {}, children }) },
	i18n: { __: (text) => text },
	blockEditor: { useBlockProps: () => ({ className: 'wp-block-serverless-nlp-sentiment' }) },
	components: { TextareaControl: 'TextareaControl' },
	serverSideRender: 'ServerSideRender',
	blocks: { registerBlockType: (name, settings) => { registered[name] = settings; } },
};
vm.runInNewContext(fs.readFileSync(file, 'utf8'), { window: { wp } });

const block = registered['serverless-nlp/sentiment'];
assert.ok(block, 'block serverless-nlp/sentiment is registered');
assert.deepStrictEqual(Object.keys(block.attributes).sort(), ['model', 'text']);
assert.strictEqual(block.save(), null);

const attributes = { text: '', model: '' };
const props = { attributes, setAttributes: (changes) => Object.assign(attributes, changes) };
const kinds = (node) => node.children.filter(Boolean).map((child) => child.type);

let tree = block.edit(props);
assert.deepStrictEqual(kinds(tree), ['TextareaControl'], 'no preview without text');
tree.children[0].props.onChange('I love it');
assert.strictEqual(attributes.text, 'I love it');

tree = block.edit(props);
assert.deepStrictEqual(kinds(tree), ['TextareaControl', 'ServerSideRender']);
assert.strictEqual(tree.children[1].props.block, 'serverless-nlp/sentiment');
console.log('ok');
