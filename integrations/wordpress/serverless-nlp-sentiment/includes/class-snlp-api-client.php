<?php
/**
 * HTTP client for the Serverless NLP API.
 *
 * Every failure comes back as a WP_Error whose code says what kind of failure it was
 * (see the SNLP_Api_Client::ERR_* constants) and whose data carries the HTTP status,
 * the Retry-After delay and whether retrying later can help. The token is never put in
 * an error message.
 *
 * Requests go through wp_safe_remote_get / wp_safe_remote_post (no redirects, no private
 * addresses), and only to an https base URL; plain http is accepted for loopback alone (a
 * local API on the same machine), and that one configured loopback host and port is let
 * through the safe-URL check for the duration of the request, nothing else.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * Talks to /v1/models, /v1/classify and /v1/embed with wp_safe_remote_get / wp_safe_remote_post.
 */
class SNLP_Api_Client {

	const ERR_CONFIG       = 'snlp_config';       // No base URL or token configured.
	const ERR_AUTH         = 'snlp_auth';         // 401/403: the token was rejected.
	const ERR_QUOTA        = 'snlp_quota';        // 429: quota used up or throttled.
	const ERR_UNAVAILABLE  = 'snlp_unavailable';  // 5xx: the service or the model is down.
	const ERR_NETWORK      = 'snlp_network';      // No HTTP answer at all (DNS, refused, timeout).
	const ERR_NOT_FOUND    = 'snlp_not_found';    // 404: unknown model or wrong base URL.
	const ERR_INVALID      = 'snlp_invalid';      // 400/413/422: the request was refused as sent.
	const ERR_BAD_RESPONSE = 'snlp_bad_response'; // A 2xx answer that is not what the contract says.

	/** @var string */
	private $base_url;

	/** @var string */
	private $token;

	/** @var float */
	private $timeout;

	/** @var string */
	private $user_agent;

	/**
	 * @param string $base_url   API base URL, e.g. https://api.example.com (a trailing slash is fine).
	 * @param string $token      Bearer token.
	 * @param float  $timeout    Seconds to wait for an answer.
	 * @param string $user_agent User-Agent header value.
	 */
	public function __construct( $base_url, $token, $timeout = 5.0, $user_agent = 'serverless-nlp-sentiment' ) {
		$this->base_url   = rtrim( trim( (string) $base_url ), '/' );
		$this->token      = trim( (string) $token );
		$this->timeout    = max( 0.5, (float) $timeout );
		$this->user_agent = (string) $user_agent;
	}

	/**
	 * Models available to this token.
	 *
	 * Reads the API's OpenAI-style list ({"data": [{"id", "aliases", ...}]}) and plainer shapes
	 * ({"models": [{"name", "task", "labels"}]} or a list of names).
	 *
	 * @return array|WP_Error List of arrays: 'name', 'task', 'version' (the prod alias's), 'labels' ('' / [] when not given).
	 */
	public function models() {
		$data = $this->request( 'GET', '/v1/models' );
		if ( is_wp_error( $data ) ) {
			return $data;
		}
		$items = self::list_field( $data, array( 'models', 'data' ) );
		if ( null === $items ) {
			return self::bad_response( 'models' );
		}
		$models = array();
		foreach ( $items as $item ) {
			if ( is_string( $item ) ) {
				$item = array( 'name' => $item );
			}
			if ( ! is_array( $item ) ) {
				continue;
			}
			$name = isset( $item['name'] ) ? $item['name'] : ( isset( $item['id'] ) ? $item['id'] : null );
			if ( ! is_string( $name ) || '' === $name ) {
				continue;
			}
			$version = '';
			if ( isset( $item['version'] ) && is_scalar( $item['version'] ) ) {
				$version = (string) $item['version'];
			} elseif ( isset( $item['aliases']['prod'] ) && is_string( $item['aliases']['prod'] ) ) {
				$version = $item['aliases']['prod']; // What the bare name resolves to.
			}
			$models[] = array(
				'name'    => $name,
				'task'    => isset( $item['task'] ) && is_string( $item['task'] ) ? $item['task'] : '',
				'version' => $version,
				'labels'  => isset( $item['labels'] ) && is_array( $item['labels'] ) ? array_values( array_filter( $item['labels'], 'is_string' ) ) : array(),
			);
		}
		return $models;
	}

	/**
	 * Classify texts.
	 *
	 * @param string[] $texts Texts, in order.
	 * @param string   $model Model reference ("sentiment", "sentiment:int8", "name@version").
	 * @return array|WP_Error One array per text: 'label' (string), 'score' (float 0..1), 'scores' (label => float),
	 *                        plus 'model' (the model version that answered, when the API says).
	 */
	public function classify( array $texts, $model ) {
		$answer = $this->per_text( 'classify', $texts, $model, array( 'predictions', 'results' ) );
		if ( is_wp_error( $answer ) ) {
			return $answer;
		}
		list( $data, $items ) = $answer;
		$answered_by = self::model_id( $data );
		$out         = array();
		foreach ( $items as $item ) {
			$pred = self::prediction( $item );
			if ( null === $pred ) {
				return self::bad_response( 'classify' );
			}
			$pred['model'] = $answered_by;
			$out[]         = $pred;
		}
		return $out;
	}

	/**
	 * Embed texts.
	 *
	 * @param string[] $texts Texts, in order.
	 * @param string   $model Model reference.
	 * @return array|WP_Error One list of floats per text.
	 */
	public function embed( array $texts, $model ) {
		$answer = $this->per_text( 'embed', $texts, $model, array( 'embeddings', 'data' ) );
		if ( is_wp_error( $answer ) ) {
			return $answer;
		}
		$items = $answer[1];
		$out   = array();
		foreach ( $items as $item ) {
			if ( is_array( $item ) && isset( $item['embedding'] ) ) {
				$item = $item['embedding']; // OpenAI-style entry.
			}
			if ( ! is_array( $item ) || array() === $item ) {
				return self::bad_response( 'embed' );
			}
			$vector = array();
			foreach ( $item as $x ) {
				if ( ! is_int( $x ) && ! is_float( $x ) ) {
					return self::bad_response( 'embed' );
				}
				$vector[] = (float) $x;
			}
			$out[] = $vector;
		}
		return $out;
	}

	/**
	 * POST texts to a native route (/v1/classify, /v1/embed) and find its list of one item per text.
	 *
	 * @param string   $task   "classify" or "embed": the route, and what a bad answer names.
	 * @param string[] $texts  Texts, in order.
	 * @param string   $model  Model reference.
	 * @param string[] $fields Where the list may be, the first present wins.
	 * @return array|WP_Error array( the decoded answer, its list ), the list as long as $texts.
	 */
	private function per_text( $task, array $texts, $model, array $fields ) {
		$data = $this->request( 'POST', '/v1/' . $task, array( 'model' => (string) $model, 'texts' => array_values( $texts ) ) );
		if ( is_wp_error( $data ) ) {
			return $data;
		}
		$items = self::list_field( $data, $fields );
		if ( null === $items || count( $items ) !== count( $texts ) ) {
			return self::bad_response( $task );
		}
		return array( $data, $items );
	}

	/**
	 * Send one request and decode the JSON answer.
	 *
	 * @param string     $method GET or POST.
	 * @param string     $path   Path starting with "/".
	 * @param array|null $body   JSON body for POST.
	 * @return array|WP_Error Decoded JSON object.
	 */
	public function request( $method, $path, $body = null ) {
		if ( '' === $this->base_url || ! preg_match( '#^https?://#i', $this->base_url ) ) {
			return new WP_Error( self::ERR_CONFIG, __( 'The API base URL is not set.', 'serverless-nlp-sentiment' ), array( 'retryable' => false ) );
		}
		$unsafe = self::check_base_url( $this->base_url );
		if ( is_wp_error( $unsafe ) ) {
			return $unsafe;
		}
		if ( '' === $this->token ) {
			return new WP_Error( self::ERR_CONFIG, __( 'The API token is not set.', 'serverless-nlp-sentiment' ), array( 'retryable' => false ) );
		}
		$args = array(
			'method'      => $method,
			'timeout'     => $this->timeout,
			'redirection' => 0,
			'user-agent'  => $this->user_agent,
			'headers'     => array(
				'Authorization' => 'Bearer ' . $this->token,
				'Accept'        => 'application/json, application/problem+json',
			),
		);
		if ( null !== $body ) {
			$args['headers']['Content-Type'] = 'application/json';
			$args['body']                    = wp_json_encode( $body );
		}
		$url   = $this->base_url . $path;
		$parts = wp_parse_url( $this->base_url );
		$host  = strtolower( trim( (string) $parts['host'], '[]' ) );
		$port  = isset( $parts['port'] ) ? (int) $parts['port'] : 0;
		// The configured API itself, and nothing else, passes the safe-URL check even when it is
		// a loopback address or listens on a port outside 80/443/8080.
		$allow_host = static function ( $external, $checked_host ) use ( $host ) {
			return $external || strtolower( trim( (string) $checked_host, '[]' ) ) === $host;
		};
		$allow_port = static function ( $ports, $checked_host ) use ( $host, $port ) {
			if ( $port && strtolower( trim( (string) $checked_host, '[]' ) ) === $host && is_array( $ports ) ) {
				$ports[] = $port;
			}
			return $ports;
		};
		if ( self::is_loopback( $host ) ) { // A public host needs no exception.
			add_filter( 'http_request_host_is_external', $allow_host, 10, 2 );
		}
		add_filter( 'http_allowed_safe_ports', $allow_port, 10, 2 );
		$response = 'GET' === $method ? wp_safe_remote_get( $url, $args ) : wp_safe_remote_post( $url, $args );
		remove_filter( 'http_request_host_is_external', $allow_host, 10 );
		remove_filter( 'http_allowed_safe_ports', $allow_port, 10 );

		if ( is_wp_error( $response ) ) {
			return new WP_Error(
				self::ERR_NETWORK,
				__( 'The API could not be reached.', 'serverless-nlp-sentiment' ),
				array(
					'status'    => 0,
					'retryable' => true,
					'detail'    => $response->get_error_message(),
				)
			);
		}
		$status = (int) wp_remote_retrieve_response_code( $response );
		$raw    = (string) wp_remote_retrieve_body( $response );
		if ( $status < 200 || $status >= 300 ) {
			return self::error_from_response( $status, $raw, (string) wp_remote_retrieve_header( $response, 'retry-after' ) );
		}
		$data = json_decode( $raw, true );
		if ( ! is_array( $data ) ) {
			return self::bad_response( $path );
		}
		return $data;
	}

	/**
	 * The API must be reached over https; plain http only on loopback (the token travels in a header).
	 *
	 * @param string $url Base URL.
	 * @return true|WP_Error ERR_CONFIG when the URL is not acceptable.
	 */
	public static function check_base_url( $url ) {
		$parts  = wp_parse_url( trim( (string) $url ) );
		$scheme = isset( $parts['scheme'] ) ? strtolower( $parts['scheme'] ) : '';
		$host   = isset( $parts['host'] ) ? strtolower( trim( $parts['host'], '[]' ) ) : '';
		if ( '' === $host || ! in_array( $scheme, array( 'http', 'https' ), true ) ) {
			return new WP_Error( self::ERR_CONFIG, __( 'The API base URL must start with https://.', 'serverless-nlp-sentiment' ), array( 'retryable' => false ) );
		}
		if ( isset( $parts['user'] ) || isset( $parts['pass'] ) ) {
			return new WP_Error( self::ERR_CONFIG, __( 'The API base URL must not contain a user name or password.', 'serverless-nlp-sentiment' ), array( 'retryable' => false ) );
		}
		if ( 'http' === $scheme && ! self::is_loopback( $host ) ) {
			return new WP_Error( self::ERR_CONFIG, __( 'The API base URL must use https:// (plain http is allowed only for an API on this machine: localhost, 127.0.0.1 or ::1).', 'serverless-nlp-sentiment' ), array( 'retryable' => false ) );
		}
		return true;
	}

	/**
	 * @param string $host Host name or IP (no brackets).
	 * @return bool True for localhost, 127.0.0.0/8 and ::1.
	 */
	public static function is_loopback( $host ) {
		$host = strtolower( trim( (string) $host, '[]' ) );
		return 'localhost' === $host || '::1' === $host
			|| 1 === preg_match( '/^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/', $host );
	}

	/**
	 * Turn a non-2xx answer into a classified WP_Error.
	 *
	 * @param int    $status      HTTP status.
	 * @param string $body        Raw body (problem+json when the API wrote it).
	 * @param string $retry_after Retry-After header value ('' when absent).
	 * @return WP_Error
	 */
	public static function error_from_response( $status, $body, $retry_after = '' ) {
		$problem = json_decode( (string) $body, true );
		$problem = is_array( $problem ) ? $problem : array();
		$detail  = '';
		foreach ( array( 'detail', 'title', 'error' ) as $key ) {
			if ( isset( $problem[ $key ] ) && is_string( $problem[ $key ] ) && '' !== $problem[ $key ] ) {
				$detail = $problem[ $key ];
				break;
			}
		}
		$data = array(
			'status'      => (int) $status,
			'retryable'   => false,
			'retry_after' => self::parse_retry_after( $retry_after ),
			'type'        => isset( $problem['type'] ) && is_string( $problem['type'] ) ? $problem['type'] : '',
			'detail'      => $detail,
		);
		if ( 401 === $status || 403 === $status ) {
			return new WP_Error( self::ERR_AUTH, __( 'The API rejected the token.', 'serverless-nlp-sentiment' ), $data );
		}
		if ( 429 === $status ) {
			$data['retryable'] = true;
			return new WP_Error( self::ERR_QUOTA, __( 'The API quota is used up for now.', 'serverless-nlp-sentiment' ), $data );
		}
		if ( 404 === $status ) {
			return new WP_Error( self::ERR_NOT_FOUND, __( 'The API does not know this model or address.', 'serverless-nlp-sentiment' ), $data );
		}
		if ( $status >= 500 || 408 === $status ) {
			$data['retryable'] = true;
			return new WP_Error( self::ERR_UNAVAILABLE, __( 'The API is unavailable right now.', 'serverless-nlp-sentiment' ), $data );
		}
		return new WP_Error( self::ERR_INVALID, __( 'The API refused the request.', 'serverless-nlp-sentiment' ), $data );
	}

	/**
	 * Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.
	 *
	 * @param string   $value Header value.
	 * @param int|null $now   Current Unix time (tests pass it).
	 * @return int|null Null when absent or unreadable.
	 */
	public static function parse_retry_after( $value, $now = null ) {
		$value = trim( (string) $value );
		if ( '' === $value ) {
			return null;
		}
		if ( ctype_digit( $value ) ) {
			return (int) $value;
		}
		$when = strtotime( $value );
		if ( false === $when ) {
			return null;
		}
		$now = null === $now ? time() : (int) $now;
		return max( 0, $when - $now );
	}

	/**
	 * The first of $keys that holds a list, or the data itself when it is a list.
	 *
	 * @param array    $data Decoded JSON.
	 * @param string[] $keys Candidate keys.
	 * @return array|null
	 */
	private static function list_field( array $data, array $keys ) {
		foreach ( $keys as $key ) {
			if ( isset( $data[ $key ] ) && is_array( $data[ $key ] ) ) {
				return array_values( $data[ $key ] );
			}
		}
		return self::is_list( $data ) ? $data : null;
	}

	/**
	 * "name@version" (or just the name) of the model that answered, when the body says.
	 *
	 * @param array $data Decoded JSON.
	 * @return string
	 */
	private static function model_id( array $data ) {
		$model = isset( $data['model'] ) ? $data['model'] : '';
		if ( is_array( $model ) ) {
			$name    = isset( $model['name'] ) && is_string( $model['name'] ) ? $model['name'] : '';
			$version = isset( $model['version'] ) && is_scalar( $model['version'] ) ? (string) $model['version'] : '';
			return '' !== $version ? $name . '@' . $version : $name;
		}
		return is_string( $model ) ? $model : '';
	}

	/**
	 * Normalise one prediction: {label, score, scores} (score defaults to scores[label]).
	 *
	 * @param mixed $item One entry of "predictions".
	 * @return array|null
	 */
	private static function prediction( $item ) {
		if ( ! is_array( $item ) || ! isset( $item['label'] ) || ! is_string( $item['label'] ) || '' === $item['label'] ) {
			return null;
		}
		$scores = array();
		if ( isset( $item['scores'] ) && is_array( $item['scores'] ) ) {
			foreach ( $item['scores'] as $label => $p ) {
				if ( is_string( $label ) && is_numeric( $p ) ) {
					$scores[ $label ] = (float) $p;
				}
			}
		}
		$label = $item['label'];
		if ( isset( $item['score'] ) && is_numeric( $item['score'] ) ) {
			$score = (float) $item['score'];
		} elseif ( isset( $scores[ $label ] ) ) {
			$score = $scores[ $label ];
		} else {
			return null;
		}
		return array(
			'label'  => $label,
			'score'  => max( 0.0, min( 1.0, $score ) ),
			'scores' => $scores,
		);
	}

	/**
	 * @param array $data Any array.
	 * @return bool True for a 0..n-1 indexed list.
	 */
	private static function is_list( array $data ) {
		return array() === $data || array_keys( $data ) === range( 0, count( $data ) - 1 );
	}

	/**
	 * @param string $what Which call.
	 * @return WP_Error
	 */
	private static function bad_response( $what ) {
		return new WP_Error(
			self::ERR_BAD_RESPONSE,
			__( 'The API answered with something unexpected.', 'serverless-nlp-sentiment' ),
			array(
				'status'    => 200,
				'retryable' => true,
				'detail'    => (string) $what,
			)
		);
	}
}
