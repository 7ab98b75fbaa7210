<?php
/**
 * Every translatable string of the plugin uses its own text domain, so it can be translated.
 *
 * @package ServerlessNlpSentiment
 */

use PHPUnit\Framework\TestCase;

final class I18nTest extends TestCase {

	const DOMAIN    = 'serverless-nlp-sentiment';
	const FUNCTIONS = array( '__', '_e', '_x', '_n', 'esc_html__', 'esc_html_e', 'esc_attr__', 'esc_attr_e' );

	public function test_every_translation_call_names_the_text_domain() {
		$root  = dirname( __DIR__, 2 ) . '/serverless-nlp-sentiment';
		$files = array_merge( glob( $root . '/*.php' ), glob( $root . '/includes/*.php' ) );
		$calls = 0;
		foreach ( $files as $file ) {
			foreach ( self::translation_calls( file_get_contents( $file ) ) as $call ) {
				list( $line, $last_arg ) = $call;
				$this->assertSame( "'" . self::DOMAIN . "'", $last_arg, basename( $file ) . ':' . $line );
				$calls++;
			}
		}
		$this->assertGreaterThan( 40, $calls, 'the scan found the translation calls' );
	}

	public function test_the_header_declares_the_domain() {
		$main = file_get_contents( dirname( __DIR__, 2 ) . '/serverless-nlp-sentiment/serverless-nlp-sentiment.php' );
		$this->assertStringContainsString( 'Text Domain:       ' . self::DOMAIN, $main );
		$this->assertStringContainsString( 'Domain Path:       /languages', $main );
	}

	/**
	 * (line, last argument as written) of each call to a translation function.
	 *
	 * @param string $code PHP source.
	 * @return array[]
	 */
	private static function translation_calls( $code ) {
		$tokens = token_get_all( $code );
		$calls  = array();
		$count  = count( $tokens );
		for ( $i = 0; $i < $count; $i++ ) {
			if ( ! is_array( $tokens[ $i ] ) || T_STRING !== $tokens[ $i ][0] || ! in_array( $tokens[ $i ][1], self::FUNCTIONS, true ) ) {
				continue;
			}
			$j = $i + 1;
			while ( is_array( $tokens[ $j ] ) && T_WHITESPACE === $tokens[ $j ][0] ) {
				$j++;
			}
			if ( '(' !== $tokens[ $j ] ) {
				continue;
			}
			$depth = 0;
			$arg   = '';
			for ( ; $j < $count; $j++ ) {
				$text = is_array( $tokens[ $j ] ) ? $tokens[ $j ][1] : $tokens[ $j ];
				if ( '(' === $text || '[' === $text ) {
					$depth++;
				} elseif ( ')' === $text || ']' === $text ) {
					$depth--;
					if ( 0 === $depth ) {
						break;
					}
				} elseif ( ',' === $text && 1 === $depth ) {
					$arg = '';
					continue;
				}
				if ( $depth >= 1 && ! ( 1 === $depth && '(' === $text ) ) {
					$arg .= $text;
				}
			}
			$calls[] = array( $tokens[ $i ][2], trim( $arg ) );
		}
		return $calls;
	}
}
