//! The answers the proxy writes itself: error pages (HTML, as ingress-nginx's), the default
//! backend's 404, and the HTTPS redirect.

use super::pool::PooledBody;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use http::{Response, StatusCode};
use http_body_util::{Either, Full};

/// The body of every response the server writes: a backend's, streamed, or one of ours.
pub type Body = Either<PooledBody, Full<Bytes>>;

const HTML: HeaderValue = HeaderValue::from_static("text/html");

/// A small HTML page for `status`, in the shape of ingress-nginx's error pages.
pub fn error(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(html(status))));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HTML);
    response
}

/// The HTML page for `status`.
pub fn html(status: StatusCode) -> Bytes {
    match status {
        StatusCode::NOT_FOUND => Bytes::from_static(NOT_FOUND),
        StatusCode::BAD_REQUEST => Bytes::from_static(BAD_REQUEST),
        StatusCode::BAD_GATEWAY => Bytes::from_static(BAD_GATEWAY),
        StatusCode::SERVICE_UNAVAILABLE => Bytes::from_static(UNAVAILABLE),
        StatusCode::GATEWAY_TIMEOUT => Bytes::from_static(GATEWAY_TIMEOUT),
        other => Bytes::from(page(other)),
    }
}

/// `308 Permanent Redirect` to `location`, with the small page nginx writes along with it.
pub fn redirect(location: &str) -> Response<Body> {
    let mut response = error(StatusCode::PERMANENT_REDIRECT);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    } else {
        // A Location we cannot write (the host and path came from the request and were
        // valid there, so this does not happen); refuse rather than redirect nowhere.
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `ok`, for the health listener.
pub fn ok() -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from_static(b"ok"))));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

macro_rules! page {
    ($title:literal) => {
        concat!(
            "<html>\r\n<head><title>",
            $title,
            "</title></head>\r\n<body>\r\n<center><h1>",
            $title,
            "</h1></center>\r\n<hr><center>portico-ingress</center>\r\n</body>\r\n</html>\r\n"
        )
        .as_bytes()
    };
}

const NOT_FOUND: &[u8] = concat!(
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n",
    "<center><h1>404 Not Found</h1></center>\r\n",
    "<hr><center>portico-ingress: default backend - 404</center>\r\n</body>\r\n</html>\r\n"
)
.as_bytes();
const BAD_REQUEST: &[u8] = page!("400 Bad Request");
const BAD_GATEWAY: &[u8] = page!("502 Bad Gateway");
const UNAVAILABLE: &[u8] = page!("503 Service Temporarily Unavailable");
const GATEWAY_TIMEOUT: &[u8] = page!("504 Gateway Time-out");

fn page(status: StatusCode) -> String {
    let title = format!(
        "{} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>portico-ingress</center>\r\n</body>\r\n</html>\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn pages_name_their_status_and_are_html() {
        let response = error(StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html");
        let body = text(response).await;
        assert!(body.contains("404 Not Found") && body.contains("default backend - 404"));
        assert!(!body.contains("nginx<"));
        let body = text(error(StatusCode::SERVICE_UNAVAILABLE)).await;
        assert!(body.contains("<title>503 Service Temporarily Unavailable</title>"));
        let body = text(error(StatusCode::TOO_MANY_REQUESTS)).await;
        assert!(body.contains("<h1>429 Too Many Requests</h1>"));
    }

    #[test]
    fn redirect_carries_location() {
        let response = redirect("https://a.example/x?y=1");
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(response.headers()[LOCATION], "https://a.example/x?y=1");
    }
}
